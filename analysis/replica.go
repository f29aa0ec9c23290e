package analysis

import (
	"runtime"

	"github.com/vitprobe/vitprobe/torchx"
)

// workerThread starts a worker goroutine's libtorch state: it locks the
// goroutine to its OS thread for good (the thread ends with the
// goroutine, and with it the thread-local grad mode and thread count),
// sets grad mode and the thread count.
func workerThread(grad bool, threads int) error {
	runtime.LockOSThread()
	torchx.SetGradEnabled(grad)
	_, err := torchx.SetThreads(threads)
	return err
}
