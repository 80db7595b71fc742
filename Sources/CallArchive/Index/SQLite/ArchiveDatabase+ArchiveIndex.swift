// The SQLite index is the archive's index on one machine.
extension ArchiveDatabase: ArchiveIndex {}
