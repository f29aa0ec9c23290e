// Package prov records where a result came from: the command line, version,
// seed, machine, threads, BLAS kernels and the hashes of the input files, so that every
// output file carries its provenance.
//
// The package needs no libtorch: the numeric runtime (libtorch's version,
// OpenBLAS's kernels) is registered by package torchx when a binary links
// it (SetRuntime), so a command without libtorch (cmd/report) builds
// without cgo and records no kernels.
package prov

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

// Version is vitprobe's version, written into every result.
const Version = "0.1.0"

// Input is one input file and its content hash.
type Input struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Provenance describes how a result was produced.
type Provenance struct {
	Tool      string   `json:"tool"`
	Version   string   `json:"version"`
	Command   []string `json:"command"`
	Started   string   `json:"started"`
	Host      string   `json:"host,omitempty"`
	GoVersion string   `json:"go"`
	OS        string   `json:"os"`
	CPUs      int      `json:"cpus"`
	Threads   int      `json:"threads,omitempty"`
	// BLAS names OpenBLAS's kernels, which with the thread count decide
	// the last bits of a result.
	BLAS string `json:"blas,omitempty"`
	// Workers is the number of one-thread workers a result's sums were
	// split over (0: none), which also decides the last bits.
	Workers int     `json:"workers,omitempty"`
	Seed    uint64  `json:"seed"`
	Inputs  []Input `json:"inputs,omitempty"`
}

// New starts a record for tool run with args (os.Args of a command).
func New(tool string, args []string, seed uint64, threads int) Provenance {
	host, _ := os.Hostname()
	return Provenance{
		Tool: tool, Version: Version, Command: append([]string(nil), args...),
		Started: time.Now().UTC().Format(time.RFC3339), Host: host,
		GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		CPUs: runtime.NumCPU(), Threads: threads, BLAS: CurrentRuntime().BLAS, Seed: seed,
	}
}

// Runtime describes the numeric libraries linked into the binary, as far as
// they decide the last bits of a result.
type Runtime struct {
	// Libtorch is the version of the libtorch headers the binary was built
	// against.
	Libtorch string
	// BLAS names OpenBLAS's kernels ("SkylakeX"), "" when the BLAS is not
	// OpenBLAS.
	BLAS string
	// BLASNote says in one line which kernels run and who chose them.
	BLASNote string
}

var runtimeInfo struct {
	sync.Mutex
	f func() Runtime
}

// SetRuntime registers the function that describes the numeric runtime;
// package torchx calls it at init. The function is called at every New, so
// it reports the kernels in use at that time.
func SetRuntime(f func() Runtime) {
	runtimeInfo.Lock()
	defer runtimeInfo.Unlock()
	runtimeInfo.f = f
}

// CurrentRuntime returns the registered runtime, or the zero Runtime in a
// binary without libtorch.
func CurrentRuntime() Runtime {
	runtimeInfo.Lock()
	f := runtimeInfo.f
	runtimeInfo.Unlock()
	if f == nil {
		return Runtime{}
	}
	return f()
}

// AddInput hashes path and records it.
func (p *Provenance) AddInput(path string) error {
	h, err := HashFile(path)
	if err != nil {
		return err
	}
	p.Inputs = append(p.Inputs, Input{Path: path, SHA256: h})
	return nil
}

// HashFile returns the hex SHA-256 of a file's content.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("prov: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("prov: hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HashBytes returns the hex SHA-256 of b.
func HashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
