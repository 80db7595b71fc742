import CallArchive
import CallArchiveTesting
import Foundation
import Testing

extension TestInstance {
    /// `callarchive list --json`, decoded.
    func recordings() throws -> [RecordingSummary] {
        let r = try cli(["list", "--json", "--limit", "100000"])
        guard r.status == 0 else {
            Issue.record("list failed: \(r.stderr)")
            return []
        }
        return try JSONDecoder().decode([RecordingSummary].self, from: Data(r.stdout.utf8))
    }

    /// Files in the spool other than hidden ones.
    var visibleSpool: [String] { spoolContents().filter { !$0.hasPrefix(".") } }
}

/// The shared corpus for end-to-end tests: ≥ 40 good recordings of every make-corpus format, plus the bad
/// inputs and the mu-law negative-zero edge case.
let e2eCorpus: Result<Corpus, any Error> = Result { try Corpus.make(count: 40, seed: "e2e-1", hours: 0.4) }
