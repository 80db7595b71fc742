import ArgumentParser
import CallArchiveAPI
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Anonymised statistics: calls, cases, holds, erasures, objections and disclosures per week or month.",
        discussion: """
            Counts, distinct people and (for calls) total durations, per period
            and, with --group, per queue, direction, agent, class or outcome.
            No ids, numbers or case references.

            A cell counting fewer people than stats.minimumCount (default 10)
            shows <10 instead of its figures, however many calls it counts; so
            do the next smallest cells of its period and measure, until what is
            hidden counts enough people that subtraction cannot recover it.
            There are no totals, for the same reason. --from and --to select
            whole periods: every period that overlaps [from, to).

            Auditors, operators and admins.

              callarchive stats --by week --group queue --csv \\
                  --from 2026-01-01 --to 2026-04-01 > calls.csv
            """)
    @Option(help: "week (ISO weeks, Monday first) or month.") var by: String = "month"
    @Option(help: "queue, direction, agent, class or outcome (default: none, one group \"all\").") var group: String?
    @Option(help: "The first period is the one containing this time (YYYY-MM-DD or RFC 3339).") var from: String?
    @Option(help: "Periods that start before this time (YYYY-MM-DD or RFC 3339).") var to: String?
    @Flag(help: "Print RFC 4180 CSV: period,group,measure,count,people,duration_s.") var csv = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if csv && global.json { throw ValidationError("--csv and --json: choose one") }
    }

    func run() async throws {
        try await runReporting {
            let report = try await global.client().call(
                "GET", "/v1/stats" + queryString([("by", by), ("group", group), ("from", from), ("to", to)]),
                as: StatsReport.self)
            if global.json { return printJSON(report) }
            if csv { return FileHandle.standardOutput.write(Data(report.csv().utf8)) }
            if report.rows.isEmpty { return print("nothing to count in this range") }
            printTable(
                [
                    "PERIOD", report.group == "all" ? "GROUP" : report.group.uppercased(), "MEASURE", "COUNT", "PEOPLE",
                    "DURATION",
                ],
                report.rows.map { r in
                    let f = r.figures(minimumCount: report.minimumCount)
                    return [r.period, r.group, r.measure, f[0], f[1], r.durationS.map(Self.duration) ?? "-"]
                })
            print(
                "<\(report.minimumCount): fewer than \(report.minimumCount) people, or a neighbour of such a cell; no totals; "
                    + "periods in \(report.timeZone)")
        }
    }

    /// `12:04:09`: hours (however many), minutes, seconds.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}
