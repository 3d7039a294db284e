package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func rec(t *testing.T, id, day, predictor string) []byte {
	t.Helper()
	b, err := json.Marshal(record{ID: id, ReqType: "io.seldon.serving.inference.request", Namespace: "ns", InferenceService: "iris", Endpoint: predictor, Received: day + "T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The object key depends only on the segment and the record's group: the same segment uploaded
// twice gives the same keys (so S3 overwrites instead of duplicating).
func TestGroupsAreDeterministicAndFollowTheLayout(t *testing.T) {
	var data []byte
	for i, g := range []struct{ day, pred string }{{"2026-12-04", "default"}, {"2026-12-05", "default"}, {"2026-12-04", "canary"}, {"2026-12-04", "default"}} {
		data = append(append(data, rec(t, fmt.Sprint(i), g.day, g.pred)...), '\n')
	}
	data = append(data, []byte(`{"id":"partial`)...) // a write cut short: never acknowledged
	seg := "00000000000000000001-host-000001.jsonl"
	a := groups("payloads", seg, data)
	b := groups("payloads", seg, data)
	want := []string{
		"payloads/ns/iris/canary/2026-12-04/" + seg,
		"payloads/ns/iris/default/2026-12-04/" + seg,
		"payloads/ns/iris/default/2026-12-05/" + seg,
	}
	if len(a) != len(want) {
		t.Fatalf("got %d groups, want %d", len(a), len(want))
	}
	lines := 0
	for i := range a {
		if a[i].key != want[i] || b[i].key != a[i].key {
			t.Errorf("group %d: key %q (again: %q), want %q", i, a[i].key, b[i].key, want[i])
		}
		lines += len(a[i].lines)
	}
	if lines != 4 {
		t.Errorf("%d lines grouped, want 4 (the partial line dropped)", lines)
	}
}

func TestObjectKeyKeepsSlashesOut(t *testing.T) {
	r := &record{Namespace: "a/b", InferenceService: "", Endpoint: "..", Received: "2026-12-04T00:00:00Z"}
	if got, want := ObjectKey("p", r, "s.jsonl"), "p/a_b/_unknown/_unknown/2026-12-04/s.jsonl"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
}

// Concurrent appends are acknowledged only once on disk, batches are sealed at maxEvents, and a
// restart seals what the killed process left open, cutting a partial last line.
func TestSpoolAppendSealRecover(t *testing.T) {
	dir := t.TempDir()
	sp, _, err := newSpool(dir, "h", 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	go sp.run(stop)
	var wg sync.WaitGroup
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := sp.Append(rec(t, fmt.Sprint(i), "2026-12-04", "default")); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	lines := func(prefix string) (n int, files int) {
		names, _ := sp.list(prefix)
		for _, name := range names {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			n += strings.Count(string(b), "\n")
		}
		return n, len(names)
	}
	sealed, _ := lines(sealedPrefix)
	open, _ := lines(openPrefix)
	if sealed != 20 || open != 5 {
		t.Fatalf("%d sealed + %d open lines, want two full batches of 10 sealed and 5 open", sealed, open)
	}
	// A crash: the open segment stays open, with half a line at its end.
	names, _ := sp.list(openPrefix)
	if len(names) != 1 {
		t.Fatalf("%d open segments, want 1", len(names))
	}
	f, _ := os.OpenFile(filepath.Join(dir, names[0]), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"half`)
	f.Close()

	sp2, recovered, err := newSpool(dir, "h", 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if recovered != 1 {
		t.Errorf("recovered %d open segments, want 1", recovered)
	}
	sp = sp2
	sealed, files := lines(sealedPrefix)
	open, _ = lines(openPrefix)
	if sealed != 25 || open != 0 {
		t.Errorf("after recovery: %d sealed lines in %d files, %d open, want 25 sealed and none open", sealed, files, open)
	}
	if int64(files) != sp2.segments.Load() {
		t.Errorf("segments gauge %d, want %d", sp2.segments.Load(), files)
	}
	close(stop)
}
