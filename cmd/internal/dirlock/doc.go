// Package dirlock keeps two processes from working on one directory at once.
//
// Acquire takes an exclusive flock(2) on a file named [FileName] inside the
// directory and holds it until Release or until the process ends, however it
// ends: the kernel drops the lock with the last descriptor, so a crash or a
// kill -9 never leaves a stale lock behind and nothing has to be cleaned up
// by hand. While it holds the lock, the holder's info (its pid, address, …)
// stands in the file, so a second process is refused with a [*HeldError]
// that names the first.
//
// A refused process changes nothing: it opens the lock file without
// truncating it and reads it. The file itself is never removed (removing it
// would let a third process lock a new file while a second still waits on
// the old one); an unheld lock file is empty.
package dirlock
