import Testing

@testable import CallArchive

@Suite("Log redaction")
struct RedactionTests {
    @Test(
        "phone numbers in file names and messages are replaced; short digit runs stay",
        arguments: [
            ("helpline_+447700900123_abc.wav", "helpline_[number]_abc.wav"),
            ("call 0044 20 7946 0516.wav", "call [number].wav"),
            ("020-7946-0516", "[number]"),
            ("2026-03-15 call 42.wav", "2026-03-15 call 42.wav"),
            ("01a225db-04cf-7922-be3e-52e8e74edf54.wav", "01a225db-04cf-7922-be3e-52e8e74edf54.wav"),
            ("rename to /q/+15555550100.wav failed", "rename to /q/[number].wav failed"),
        ])
    func redacts(_ input: String, _ expected: String) {
        #expect(Redaction.redactNumbers(input) == expected)
    }
}
