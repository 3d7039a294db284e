package main

// The drift monitor's figures: the ModelMonitor CronJob uploads its Prometheus text to one object
// (SINK_MONITOR_KEY); the sink fetches it every SINK_MONITOR_POLL_SECONDS and serves its lines on
// /metrics after its own, so the PodMonitor that scrapes the model pods scrapes the figures too,
// with no Pushgateway. The text is checked before it is served: only the monitor's metric
// families (lib/contract.ts METRICS.monitor*), well-formed sample lines, at most
// maxMonitorBytes. An object that fails the check is not served at all (a half-served set of
// figures would read as a real one). A missing object is normal: no monitor run yet.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

// monitorFamilies are the metric names of lib/contract.ts METRICS whose key starts with
// `monitor` (test/model-monitor-sink.test.ts checks the two lists agree).
var monitorFamilies = []string{
	"rmlops_monitor_drift",
	"rmlops_monitor_drift_alarm",
	"rmlops_monitor_prediction_shift",
	"rmlops_monitor_performance",
	"rmlops_monitor_window_events",
	"rmlops_monitor_last_success_timestamp_seconds",
}

// maxMonitorBytes bounds what one scrape can carry from the object: a few hundred features with
// three statistics each is about 50 KiB.
const maxMonitorBytes = 256 << 10

var (
	labelsRe = `\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*,?)?\}`
	valueRe  = `(?:[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf)|NaN)`
	sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(` + labelsRe + `)? ` + valueRe + `( -?[0-9]+)?$`)
	helpRe   = regexp.MustCompile(`^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?$`)
	typeRe   = regexp.MustCompile(`^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (gauge|counter|untyped)$`)
)

func allowedFamily(name string) bool {
	for _, f := range monitorFamilies {
		if name == f {
			return true
		}
	}
	return false
}

// checkMonitorText returns the lines to serve (comments other than HELP/TYPE and blank lines
// dropped), or why the text must not be served.
func checkMonitorText(text []byte) ([]string, error) {
	if len(text) > maxMonitorBytes {
		return nil, fmt.Errorf("%d bytes, more than %d", len(text), maxMonitorBytes)
	}
	var out []string
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			m := helpRe.FindStringSubmatch(line)
			if m == nil {
				continue // a plain comment: dropped
			}
			if !allowedFamily(m[2]) {
				return nil, fmt.Errorf("line %d: %s of %q, which is not a monitor family", i+1, m[1], m[2])
			}
			if m[1] == "TYPE" && !typeRe.MatchString(line) {
				return nil, fmt.Errorf("line %d: %q is not a gauge, counter or untyped TYPE line", i+1, line)
			}
			out = append(out, line)
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not a Prometheus sample line", i+1, truncate(line, 80))
		}
		if !allowedFamily(m[1]) {
			return nil, fmt.Errorf("line %d: metric %q is not a monitor family (%s)", i+1, m[1], strings.Join(monitorFamilies, ", "))
		}
		out = append(out, line)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// monitorFigures holds the lines last fetched and the counters of the fetches.
type monitorFigures struct {
	key   string
	every time.Duration
	get   func(ctx context.Context, key string) ([]byte, bool, error) // body, found, error

	mu       sync.Mutex
	lines    []string
	ok       atomic.Int64
	failures atomic.Int64
	invalid  atomic.Int64
	missing  atomic.Int64
}

// s3Getter reads an object with minio-go; NoSuchKey is "not found", not an error.
func s3Getter(client *minio.Client, bucket string) func(ctx context.Context, key string) ([]byte, bool, error) {
	return func(ctx context.Context, key string) ([]byte, bool, error) {
		obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return nil, false, err
		}
		defer obj.Close()
		// One byte past the bound, so an oversized object is seen as such without reading it all.
		body, err := io.ReadAll(io.LimitReader(obj, maxMonitorBytes+1))
		if err != nil {
			if minio.ToErrorResponse(err).Code == "NoSuchKey" {
				return nil, false, nil
			}
			return nil, false, err
		}
		return body, true, nil
	}
}

// fetch reads the object once and replaces the served lines: with the object's checked lines,
// with none when the object is missing or invalid; an S3 error keeps the last good lines (their
// last-success timestamp ages, which is what the stale-monitor alert watches).
func (m *monitorFigures) fetch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, found, err := m.get(ctx, m.key)
	if err != nil {
		m.failures.Add(1)
		logf("monitor figures %s: %v (the last ones fetched stay served)", m.key, err)
		return
	}
	var lines []string
	if !found {
		m.missing.Add(1)
	} else if lines, err = checkMonitorText(body); err != nil {
		m.invalid.Add(1)
		logf("monitor figures %s not served: %v", m.key, err)
		lines = nil
	} else {
		m.ok.Add(1)
	}
	m.mu.Lock()
	m.lines = lines
	m.mu.Unlock()
}

func (m *monitorFigures) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-stop; cancel() }()
	for {
		m.fetch(ctx)
		select {
		case <-stop:
			return
		case <-time.After(m.every):
		}
	}
}

// write appends the sink's counters of the fetches, then the figures.
func (m *monitorFigures) write(w io.Writer) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# HELP rmlops_sink_monitor_fetches_total Fetches of the drift monitor's figures (SINK_MONITOR_KEY), by outcome.\n")
	fmt.Fprintf(&b, "# TYPE rmlops_sink_monitor_fetches_total counter\n")
	for _, o := range []struct {
		name string
		v    int64
	}{{"ok", m.ok.Load()}, {"missing", m.missing.Load()}, {"invalid", m.invalid.Load()}, {"error", m.failures.Load()}} {
		fmt.Fprintf(&b, "rmlops_sink_monitor_fetches_total{outcome=%q} %d\n", o.name, o.v)
	}
	m.mu.Lock()
	for _, l := range m.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	m.mu.Unlock()
	w.Write(b.Bytes())
}
