// The wire types, formats and file helpers that the domain shares with its clients live in CallArchiveAPI;
// everything that imports CallArchive sees them too.
@_exported import CallArchiveAPI
