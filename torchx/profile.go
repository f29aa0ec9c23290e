package torchx

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// OpTime is the time spent in one libtorch operator (by name) over a
// profiled call.
type OpTime struct {
	// Name is the operator's name as libtorch records it ("aten::addmm",
	// "autograd::engine::evaluate_function: AddmmBackward0", or one of the
	// shim's own, "vitprobe::attention").
	Name string
	// Calls counts the operator's calls.
	Calls int
	// Self is the time inside the operator less the time in the operators
	// it called: where the work is.
	Self time.Duration
	// Total is the time inside the operator, its callees included (a call
	// nested in a call of the same name is counted once).
	Total time.Duration
	// SelfCPU is the process's CPU time (all its threads) during Self:
	// SelfCPU / Self is how many cores the operator kept busy, 1 for an
	// operator that ran on the calling thread alone.
	SelfCPU time.Duration
}

// Profile is where the time of a profiled call went, by libtorch operator.
type Profile struct {
	// Wall is the call's wall time.
	Wall time.Duration
	// Ops are the operators by self time, largest first.
	Ops []OpTime
	// Outside is the wall time outside every operator: Go code, cgo calls,
	// tensors made and freed outside operators, waiting.
	Outside time.Duration
	// CPU is the process's CPU time over the call (all threads, user and
	// system), and OutsideCPU the part of it outside every operator.
	CPU, OutsideCPU time.Duration

	insideCPU time.Duration // CPU time inside the profiled thread's outermost calls
}

// errProfiling is returned by ProfileOps when a profile is already running.
var errProfiling = errors.New("torchx: a profile is already running")

// profiling is set while ProfileOps runs (profiles do not nest).
var profiling = make(chan struct{}, 1)

// ProfileOps runs fn with every libtorch operator and autograd node timed
// (a RecordFunction callback of the shim's: a clock read at each end of a
// call) and returns the time per operator. It sees the operators called on
// the calling goroutine's OS thread, which it locks for fn's duration (work
// libtorch spreads over its threads from there is inside those calls);
// torch work fn starts on other goroutines is not seen. The timing costs
// about 10 µs per operator call on the project's VM (a 16-float addition
// timed 20,000 times, 4 Dec: 3 µs with the wall clock alone, the rest the
// two reads of the process's CPU time, which are system calls), which
// inflates Self and Outside for small operators; libtorch's legacy profiler, tried first, inflated a small
// two-thread elementwise product 70-fold. fn's error is returned as is,
// with the profile so far.
func ProfileOps(fn func() error) (*Profile, error) {
	select {
	case profiling <- struct{}{}:
	default:
		return nil, errProfiling
	}
	defer func() { <-profiling }()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := errFrom(C.vp_profile_start()); err != nil {
		return nil, fmt.Errorf("torchx: start the profiler: %w", err)
	}
	cpu0 := processCPU()
	t0 := time.Now()
	fnErr := fn()
	wall := time.Since(t0)
	cpu := processCPU() - cpu0
	var out *C.char
	if err := errFrom(C.vp_profile_stop(&out)); err != nil {
		return nil, errors.Join(fnErr, fmt.Errorf("torchx: stop the profiler: %w", err))
	}
	text := C.GoString(out)
	C.free(unsafe.Pointer(out))
	events, err := parseProfile(strings.NewReader(text))
	if err != nil {
		return nil, errors.Join(fnErr, err)
	}
	p := summarize(events, wall)
	p.setCPU(cpu)
	return p, fnErr
}

// processCPU returns the process's CPU time so far, user and system, all
// threads (zero if the system will not say).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profEvent is one operator call: its thread, start and end (microseconds
// from the profiler's origin), the process's CPU time at both ends
// (microseconds) and name.
type profEvent struct {
	thread           uint64
	start, end       float64
	cpuStart, cpuEnd float64
	name             string
}

// parseProfile reads vp_profile_stop's lines.
func parseProfile(r io.Reader) ([]profEvent, error) {
	var out []profEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.SplitN(sc.Text(), "\t", 6)
		if len(f) != 6 {
			return nil, fmt.Errorf("torchx: profile line %d: %d fields, want 6", line, len(f))
		}
		var e profEvent
		var errs [5]error
		e.thread, errs[0] = strconv.ParseUint(f[0], 10, 64)
		e.start, errs[1] = strconv.ParseFloat(f[1], 64)
		e.end, errs[2] = strconv.ParseFloat(f[2], 64)
		e.cpuStart, errs[3] = strconv.ParseFloat(f[3], 64)
		e.cpuEnd, errs[4] = strconv.ParseFloat(f[4], 64)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("torchx: profile line %d: %w", line, err)
		}
		e.name = f[5]
		out = append(out, e)
	}
	return out, sc.Err()
}

// summarize nests each thread's calls by their intervals (a call inside
// another's interval on the same thread is its callee) and adds up self and
// total time per name; Outside is wall less the union of the outermost
// calls' intervals over all threads.
func summarize(events []profEvent, wall time.Duration) *Profile {
	slices.SortFunc(events, func(a, b profEvent) int {
		switch {
		case a.thread != b.thread:
			if a.thread < b.thread {
				return -1
			}
			return 1
		case a.start != b.start:
			if a.start < b.start {
				return -1
			}
			return 1
		case a.end != b.end: // the enclosing call first
			if a.end > b.end {
				return -1
			}
			return 1
		}
		return 0
	})
	type acc struct {
		calls                int
		self, total, selfCPU float64
	}
	byName := map[string]*acc{}
	get := func(n string) *acc {
		a := byName[n]
		if a == nil {
			a = &acc{}
			byName[n] = a
		}
		return a
	}
	var outer [][2]float64 // outermost intervals, all threads
	var outerCPU float64   // CPU time inside the outermost calls
	var stack []int
	for i, e := range events {
		if i > 0 && e.thread != events[i-1].thread {
			stack = stack[:0]
		}
		for len(stack) > 0 && events[stack[len(stack)-1]].end <= e.start {
			stack = stack[:len(stack)-1]
		}
		d, dc := e.end-e.start, e.cpuEnd-e.cpuStart
		a := get(e.name)
		a.calls++
		a.self += d
		a.selfCPU += dc
		nested := false
		for _, j := range stack {
			if events[j].name == e.name {
				nested = true
				break
			}
		}
		if !nested {
			a.total += d
		}
		if len(stack) > 0 {
			p := get(events[stack[len(stack)-1]].name)
			p.self -= d
			p.selfCPU -= dc
		} else {
			outer = append(outer, [2]float64{e.start, e.end})
			outerCPU += dc
		}
		stack = append(stack, i)
	}
	slices.SortFunc(outer, func(a, b [2]float64) int {
		if a[0] < b[0] {
			return -1
		} else if a[0] > b[0] {
			return 1
		}
		return 0
	})
	var covered, hi float64
	for k, iv := range outer {
		if k == 0 || iv[0] > hi {
			covered += iv[1] - iv[0]
			hi = iv[1]
		} else if iv[1] > hi {
			covered += iv[1] - hi
			hi = iv[1]
		}
	}
	us := func(v float64) time.Duration { return time.Duration(v * 1e3) }
	p := &Profile{Wall: wall, Outside: max(0, wall-us(covered)), insideCPU: us(outerCPU)}
	for n, a := range byName {
		p.Ops = append(p.Ops, OpTime{Name: n, Calls: a.calls, Self: us(max(0, a.self)), Total: us(a.total),
			SelfCPU: us(max(0, a.selfCPU))})
	}
	slices.SortFunc(p.Ops, func(a, b OpTime) int {
		if a.Self != b.Self {
			if a.Self > b.Self {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return p
}

// setCPU records the process's CPU time over the profiled call, and the
// part of it outside the operators.
func (p *Profile) setCPU(cpu time.Duration) {
	p.CPU = cpu
	p.OutsideCPU = max(0, cpu-p.insideCPU)
}

// WriteTable writes the profile as a Markdown table: the top operators by
// self time with their share of the wall time, the process's CPU time
// during them and the cores that keeps busy (CPU over wall), calls and
// time per call, then one row for the other operators, one for the time
// outside every operator and one for the whole. calls divides the times
// (pass the number of iterations fn ran to get times per iteration; 1 for
// the whole).
func (p *Profile) WriteTable(w io.Writer, top, calls int) error {
	if calls < 1 {
		return fmt.Errorf("torchx: profile table: %d calls, want at least 1", calls)
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(calls) }
	share := func(d time.Duration) float64 { return 100 * d.Seconds() / max(p.Wall.Seconds(), 1e-12) }
	cores := func(cpu, wall time.Duration) float64 { return cpu.Seconds() / max(wall.Seconds(), 1e-12) }
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "| operator | self ms | share of wall | self CPU ms | cores | calls | total ms |\n|---|---:|---:|---:|---:|---:|---:|\n")
	var rest, restCPU time.Duration
	restN := 0
	for i, o := range p.Ops {
		if i >= top {
			rest += o.Self
			restCPU += o.SelfCPU
			restN += o.Calls
			continue
		}
		fmt.Fprintf(bw, "| %s | %.2f | %.1f%% | %.2f | %.2f | %.1f | %.2f |\n", o.Name, ms(o.Self), share(o.Self),
			ms(o.SelfCPU), cores(o.SelfCPU, o.Self), float64(o.Calls)/float64(calls), ms(o.Total))
	}
	if restN > 0 {
		fmt.Fprintf(bw, "| %d other operators | %.2f | %.1f%% | %.2f | %.2f | %.1f | |\n", len(p.Ops)-top, ms(rest), share(rest),
			ms(restCPU), cores(restCPU, rest), float64(restN)/float64(calls))
	}
	fmt.Fprintf(bw, "| outside operators (Go, cgo, waiting) | %.2f | %.1f%% | %.2f | %.2f | | |\n", ms(p.Outside), share(p.Outside),
		ms(p.OutsideCPU), cores(p.OutsideCPU, p.Outside))
	fmt.Fprintf(bw, "| wall | %.2f | 100%% | %.2f | %.2f | | |\n", ms(p.Wall), ms(p.CPU), cores(p.CPU, p.Wall))
	return bw.Flush()
}
