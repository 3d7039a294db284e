package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const goodFigures = `# HELP rmlops_monitor_drift A feature's drift.
# TYPE rmlops_monitor_drift gauge
rmlops_monitor_drift{feature="Sepal.Length",statistic="psi"} 0.031
rmlops_monitor_drift{feature="Petal.Width",statistic="ks"} 0.62
# a comment R may write
rmlops_monitor_drift_alarm{feature="Petal.Width"} 1
rmlops_monitor_prediction_shift{statistic="psi"} NaN
rmlops_monitor_window_events 1200

rmlops_monitor_last_success_timestamp_seconds 1.7649e+09
`

func TestMonitorTextAcceptsTheMonitorFamilies(t *testing.T) {
	lines, err := checkMonitorText([]byte(goodFigures))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 8 {
		t.Fatalf("got %d lines, want 8 (blank line and plain comment dropped): %q", len(lines), lines)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "# a comment") || l == "" {
			t.Fatalf("served %q", l)
		}
	}
}

func TestMonitorTextRefusesAnythingElse(t *testing.T) {
	for name, text := range map[string]string{
		"another family":               "rmlops_requests_total{route=\"/predict\"} 5\n",
		"the sink's own family":        "rmlops_sink_events_uploaded_total 1\n",
		"a prefix of a family":         "rmlops_monitor_drift_extra 1\n",
		"HELP of another family":       "# HELP up Is it up.\nrmlops_monitor_window_events 1\n",
		"a histogram TYPE":             "# TYPE rmlops_monitor_drift histogram\n",
		"no value":                     "rmlops_monitor_window_events\n",
		"a value that is not a number": "rmlops_monitor_window_events many\n",
		"broken labels":                "rmlops_monitor_drift{feature=\"a} 1\n",
		"an unquoted label":            "rmlops_monitor_drift{feature=a} 1\n",
		"two samples on one line":      "rmlops_monitor_window_events 1 rmlops_monitor_window_events 2\n",
		"html":                         "<html><body>Access Denied</body></html>\n",
	} {
		if lines, err := checkMonitorText([]byte(text)); err == nil {
			t.Errorf("%s: accepted as %q", name, lines)
		}
	}
	big := strings.Repeat("rmlops_monitor_window_events 1\n", maxMonitorBytes/31+1)
	if _, err := checkMonitorText([]byte(big)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("an object over %d bytes: err = %v", maxMonitorBytes, err)
	}
}

// A getter that answers from a variable.
type fakeObject struct {
	mu    sync.Mutex
	body  string
	found bool
	err   error
	calls atomic.Int64
}

func (f *fakeObject) get(_ context.Context, _ string) ([]byte, bool, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(f.body), f.found, f.err
}

func (f *fakeObject) set(body string, found bool, err error) {
	f.mu.Lock()
	f.body, f.found, f.err = body, found, err
	f.mu.Unlock()
}

func scrape(m *monitorFigures) string {
	var b strings.Builder
	m.write(&b)
	return b.String()
}

func TestMonitorFetchOutcomes(t *testing.T) {
	obj := &fakeObject{}
	m := &monitorFigures{key: "payloads/monitoring/ns/iris/default/metrics.prom", every: time.Hour, get: obj.get}

	// No monitor run yet: nothing served, not an error.
	m.fetch(context.Background())
	out := scrape(m)
	if strings.Contains(out, "rmlops_monitor_") || !strings.Contains(out, `rmlops_sink_monitor_fetches_total{outcome="missing"} 1`) {
		t.Fatalf("missing object:\n%s", out)
	}
	// Figures: served after the sink's counters.
	obj.set(goodFigures, true, nil)
	m.fetch(context.Background())
	out = scrape(m)
	if !strings.Contains(out, "rmlops_monitor_drift_alarm{feature=\"Petal.Width\"} 1\n") || !strings.Contains(out, `outcome="ok"} 1`) {
		t.Fatalf("good object:\n%s", out)
	}
	if strings.Index(out, "rmlops_sink_monitor_fetches_total") > strings.Index(out, "rmlops_monitor_drift") {
		t.Fatalf("the figures come after the sink's own metrics:\n%s", out)
	}
	// S3 unreachable: the last figures stay (their last-success timestamp ages).
	obj.set("", false, errors.New("connection refused"))
	m.fetch(context.Background())
	out = scrape(m)
	if !strings.Contains(out, "rmlops_monitor_window_events 1200") || !strings.Contains(out, `outcome="error"} 1`) {
		t.Fatalf("after an S3 error:\n%s", out)
	}
	// An invalid object replaces them with nothing: never half a set.
	obj.set(goodFigures+"rmlops_requests_total 3\n", true, nil)
	m.fetch(context.Background())
	out = scrape(m)
	if strings.Contains(out, "rmlops_monitor_") || !strings.Contains(out, `outcome="invalid"} 1`) {
		t.Fatalf("invalid object:\n%s", out)
	}
}

func TestMonitorRunPollsUntilStopped(t *testing.T) {
	obj := &fakeObject{}
	obj.set(goodFigures, true, nil)
	m := &monitorFigures{key: "k", every: 20 * time.Millisecond, get: obj.get}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { m.run(stop); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for obj.calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after stop")
	}
	if obj.calls.Load() < 3 {
		t.Fatalf("%d fetches, want at least 3", obj.calls.Load())
	}
}

// The real S3 client against a stand-in S3 endpoint: NoSuchKey is "missing", a body is read,
// and a 403 is an error.
func TestS3GetterWithMinioGo(t *testing.T) {
	var mode atomic.Value
	mode.Store("missing")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bucket/payloads/monitoring/ns/iris/default/metrics.prom" {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusBadRequest)
			return
		}
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "unsigned", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		switch mode.Load().(string) {
		case "missing":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`))
		case "denied":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>`))
		default:
			// What S3 sends with an object, which minio-go requires.
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
			w.Write([]byte(goodFigures))
		}
	}))
	defer srv.Close()
	client, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4("k", "s", ""), Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	get := s3Getter(client, "bucket")
	key := "payloads/monitoring/ns/iris/default/metrics.prom"
	if body, found, err := get(context.Background(), key); err != nil || found || len(body) != 0 {
		t.Fatalf("missing: body %q found %v err %v", body, found, err)
	}
	mode.Store("present")
	if body, found, err := get(context.Background(), key); err != nil || !found || string(body) != goodFigures {
		t.Fatalf("present: body %q found %v err %v", body, found, err)
	}
	mode.Store("denied")
	if _, _, err := get(context.Background(), key); err == nil {
		t.Fatal("denied: no error")
	}
}
