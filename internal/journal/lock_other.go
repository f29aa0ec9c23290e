//go:build !unix

package journal

import "os"

// Without flock (not a Unix), journals are not locked.
func lock(*os.File, string, bool) error { return nil }

func unlock(string) {}
