package main

// The spool: every accepted event is one JSON line appended to the open segment file and
// fsync'd before the HTTP handler answers 2xx. Appends from concurrent requests are grouped
// (one write and one fsync for all that are waiting), so the cost of durability is one fsync per
// group, not per event. A segment is sealed (renamed from open-* to sealed-*) when it holds
// maxEvents events or is maxAge old; the uploader only ever reads sealed segments, and deletes
// one only after every object made from it is in S3.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

const (
	openPrefix   = "open-"
	sealedPrefix = "sealed-"
	segmentExt   = ".jsonl"
	// Largest group of appends written with one fsync.
	maxGroup = 512
)

type appendReq struct {
	line []byte
	done chan error
}

type spool struct {
	dir       string
	host      string
	maxEvents int
	maxAge    time.Duration

	in       chan appendReq
	sealNow  chan chan struct{}
	sealed   chan struct{} // wakes the uploader (buffered 1)
	stopped  chan struct{}
	seq      uint64
	bytes    atomic.Int64 // bytes in the spool folder (open and sealed segments)
	segments atomic.Int64 // sealed segments waiting for upload

	cur       *os.File
	curName   string
	curEvents int
	curOpened time.Time
}

func newSpool(dir, host string, maxEvents int, maxAge time.Duration) (*spool, int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, err
	}
	s := &spool{
		dir: dir, host: host, maxEvents: maxEvents, maxAge: maxAge,
		in: make(chan appendReq, 1024), sealNow: make(chan chan struct{}), sealed: make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	recovered, err := s.recover()
	if err != nil {
		return nil, 0, err
	}
	return s, recovered, nil
}

// recover seals the open segments a previous process left (killed before sealing them): their
// complete lines were acknowledged, so they must be uploaded; a partial last line was not (the
// process died inside the write), so it is cut off.
func (s *spool) recover() (int, error) {
	names, err := s.list(openPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		p := filepath.Join(s.dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return n, err
		}
		keep := bytes.LastIndexByte(data, '\n') + 1
		if keep == 0 {
			if err := os.Remove(p); err != nil {
				return n, err
			}
			continue
		}
		if keep < len(data) {
			if err := os.Truncate(p, int64(keep)); err != nil {
				return n, err
			}
		}
		if err := os.Rename(p, filepath.Join(s.dir, sealedPrefix+strings.TrimPrefix(name, openPrefix))); err != nil {
			return n, err
		}
		n++
	}
	if err := syncDir(s.dir); err != nil {
		return n, err
	}
	sealed, err := s.list(sealedPrefix)
	if err != nil {
		return n, err
	}
	var total int64
	for _, name := range sealed {
		if fi, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
			total += fi.Size()
		}
	}
	s.bytes.Store(total)
	s.segments.Store(int64(len(sealed)))
	return n, nil
}

// list returns the segment files with this prefix, oldest first (names start with a
// zero-padded UnixNano).
func (s *spool) list(prefix string) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), segmentExt) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Append writes one line durably; it returns once the line is fsync'd (or failed).
func (s *spool) Append(line []byte) error {
	req := appendReq{line: line, done: make(chan error, 1)}
	select {
	case s.in <- req:
	case <-s.stopped:
		return errors.New("spool is closed")
	}
	return <-req.done
}

// run is the only goroutine that touches the open segment.
func (s *spool) run(stop <-chan struct{}) {
	defer close(s.stopped)
	tick := time.NewTicker(s.maxAge / 4)
	defer tick.Stop()
	for {
		select {
		case req := <-s.in:
			group := []appendReq{req}
		drain:
			// A group never overfills the open segment, so objects hold at most maxEvents events.
			for len(group) < maxGroup && s.curEvents+len(group) < s.maxEvents {
				select {
				case r := <-s.in:
					group = append(group, r)
				default:
					break drain
				}
			}
			err := s.write(group)
			if err == nil && s.curEvents >= s.maxEvents {
				s.seal()
			}
			for _, r := range group {
				r.done <- err
			}
		case <-tick.C:
			if s.cur != nil && time.Since(s.curOpened) >= s.maxAge {
				s.seal()
			}
		case done := <-s.sealNow:
			s.seal()
			close(done)
		case <-stop:
			// Appends already queued are written before the spool closes: their senders wait.
			for {
				select {
				case r := <-s.in:
					r.done <- s.write([]appendReq{r})
					continue
				default:
				}
				break
			}
			s.seal()
			return
		}
	}
}

// Seal closes the open segment now (graceful shutdown, tests).
func (s *spool) Seal() {
	done := make(chan struct{})
	select {
	case s.sealNow <- done:
		<-done
	case <-s.stopped:
	}
}

func (s *spool) write(group []appendReq) error {
	if s.cur == nil {
		s.seq++
		s.curName = fmt.Sprintf("%020d-%s-%06d%s", time.Now().UnixNano(), s.host, s.seq, segmentExt)
		f, err := os.OpenFile(filepath.Join(s.dir, openPrefix+s.curName), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		// The new name must survive a crash too, or its acknowledged lines would be lost with it.
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return err
		}
		s.cur, s.curEvents, s.curOpened = f, 0, time.Now()
	}
	var buf bytes.Buffer
	for _, r := range group {
		buf.Write(r.line)
		buf.WriteByte('\n')
	}
	n, err := s.cur.Write(buf.Bytes())
	s.bytes.Add(int64(n))
	if err == nil {
		err = s.cur.Sync()
	}
	if err != nil {
		// A segment whose tail is in doubt is sealed as it is: recovery-style truncation at the
		// next start is not needed, the uploader skips a partial last line.
		s.seal()
		return err
	}
	s.curEvents += len(group)
	return nil
}

func (s *spool) seal() {
	if s.cur == nil {
		return
	}
	s.cur.Sync()
	s.cur.Close()
	s.cur = nil
	events := s.curEvents
	s.curEvents = 0
	from := filepath.Join(s.dir, openPrefix+s.curName)
	if events == 0 {
		os.Remove(from)
		return
	}
	if err := os.Rename(from, filepath.Join(s.dir, sealedPrefix+s.curName)); err != nil {
		logf("seal %s: %v (it is sealed at the next start)", s.curName, err)
		return
	}
	syncDir(s.dir)
	s.segments.Add(1)
	select {
	case s.sealed <- struct{}{}:
	default:
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
