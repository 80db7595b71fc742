// Shared test helpers (temporary directories, seeded randomness, array diffs) live in CallArchiveTesting.
@_exported import CallArchiveTesting
