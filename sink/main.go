// rmlops-payload-sink: receives the payload-logger CloudEvents of Seldon Core's executor (binary
// HTTP encoding: the event's attributes in Ce-* headers, the payload as the body), spools each
// one durably (fsync'd) before it answers 2xx, and uploads them in batches as JSONL objects to
// S3 with retries. It runs as a sidecar in the model's pod, so the executor reaches it over
// localhost. Configuration is by environment only (names in lib/contract.ts, SINK_ENV).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Set at build time (scripts/real/install-sink.sh): the sink's own version.
var version = "dev"

func logf(format string, args ...any) { log.Printf(format, args...) }

// record is one line of the spool and of the objects. The field names follow KServe's logger
// records (id, reqType, contentType, sourceUri, inferenceService, namespace, component,
// endpoint, occurrenceTime), so one reader serves both; `puid` links a request, its response and
// its feedback. The payload is kept as JSON when it is JSON, else base64 in `bytes`.
type record struct {
	ID               string          `json:"id"`
	ReqType          string          `json:"reqType"`
	Puid             string          `json:"puid,omitempty"`
	ContentType      string          `json:"contentType,omitempty"`
	SourceURI        string          `json:"sourceUri,omitempty"`
	InferenceService string          `json:"inferenceService,omitempty"`
	Namespace        string          `json:"namespace,omitempty"`
	Component        string          `json:"component,omitempty"`
	Endpoint         string          `json:"endpoint,omitempty"`
	Protocol         string          `json:"protocol,omitempty"`
	OccurrenceTime   string          `json:"occurrenceTime,omitempty"`
	Received         string          `json:"received"`
	Payload          json.RawMessage `json:"payload,omitempty"`
	Bytes            string          `json:"bytes,omitempty"`
}

type config struct {
	listen, metricsListen, spoolDir              string
	endpoint, bucket, prefix, region             string
	accessKey, secretKey                         string
	maxEvents                                    int
	maxAge, drain, minBackoff, maxBackoff        time.Duration
	maxBody                                      int64
	defaultNamespace, defaultDeployment, defPred string
	monitorKey                                   string
	monitorEvery                                 time.Duration
}

func env(name, dflt string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return dflt
}

func envInt(name string, dflt int) (int, error) {
	v := env(name, strconv.Itoa(dflt))
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: not a positive integer", name, v)
	}
	return n, nil
}

func loadConfig() (config, error) {
	c := config{
		listen:            env("SINK_LISTEN", "127.0.0.1:9101"),
		metricsListen:     env("SINK_METRICS_LISTEN", ":9102"),
		spoolDir:          env("SINK_SPOOL_DIR", "/var/spool/rmlops-sink"),
		endpoint:          env("SINK_S3_ENDPOINT", ""),
		bucket:            env("SINK_S3_BUCKET", ""),
		prefix:            strings.Trim(env("SINK_S3_PREFIX", "payloads"), "/"),
		region:            env("SINK_S3_REGION", "us-east-1"),
		accessKey:         env("AWS_ACCESS_KEY_ID", ""),
		secretKey:         env("AWS_SECRET_ACCESS_KEY", ""),
		defaultNamespace:  env("SINK_NAMESPACE", ""),
		defaultDeployment: env("SINK_DEPLOYMENT", ""),
		defPred:           env("SINK_PREDICTOR", ""),
		monitorKey:        strings.TrimLeft(env("SINK_MONITOR_KEY", ""), "/"),
	}
	var errs []string
	for name, v := range map[string]string{"SINK_S3_ENDPOINT": c.endpoint, "SINK_S3_BUCKET": c.bucket, "AWS_ACCESS_KEY_ID": c.accessKey, "AWS_SECRET_ACCESS_KEY": c.secretKey} {
		if v == "" {
			errs = append(errs, name+" is not set")
		}
	}
	n, err := envInt("SINK_BATCH_EVENTS", 1000)
	if err != nil {
		errs = append(errs, err.Error())
	}
	c.maxEvents = n
	for _, d := range []struct {
		name string
		dflt int
		into *time.Duration
		unit time.Duration
	}{
		{"SINK_BATCH_SECONDS", 5, &c.maxAge, time.Second},
		{"SINK_DRAIN_SECONDS", 20, &c.drain, time.Second},
		{"SINK_RETRY_MIN_MS", 500, &c.minBackoff, time.Millisecond},
		{"SINK_RETRY_MAX_MS", 30000, &c.maxBackoff, time.Millisecond},
		{"SINK_MONITOR_POLL_SECONDS", 60, &c.monitorEvery, time.Second},
	} {
		n, err := envInt(d.name, d.dflt)
		if err != nil {
			errs = append(errs, err.Error())
		}
		*d.into = time.Duration(n) * d.unit
	}
	mb, err := envInt("SINK_MAX_EVENT_BYTES", 8<<20)
	if err != nil {
		errs = append(errs, err.Error())
	}
	c.maxBody = int64(mb)
	if len(errs) > 0 {
		return c, errors.New(strings.Join(errs, "; "))
	}
	return c, nil
}

func newClient(c config) (*minio.Client, error) {
	u, err := url.Parse(c.endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("SINK_S3_ENDPOINT=%q: want http(s)://host[:port]", c.endpoint)
	}
	return minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(c.accessKey, c.secretKey, ""),
		Secure: u.Scheme == "https",
		Region: c.region,
		// Our own loop retries with backoff; the client's retries would only hide the count.
		MaxRetries: 1,
	})
}

type server struct {
	cfg      config
	sp       *spool
	up       *uploader
	spooled  map[string]*atomic.Int64
	rejected atomic.Int64
	failed   atomic.Int64
	started  time.Time
	ready    atomic.Bool
	monitor  *monitorFigures // nil unless SINK_MONITOR_KEY is set
}

var eventTypes = []string{"request", "response", "feedback", "other"}

func typeLabel(ceType string) string {
	switch ceType {
	case "io.seldon.serving.inference.request", "org.kubeflow.serving.inference.request":
		return "request"
	case "io.seldon.serving.inference.response", "org.kubeflow.serving.inference.response":
		return "response"
	case "io.seldon.serving.feedback":
		return "feedback"
	}
	return "other"
}

// ServeHTTP takes one event in CloudEvents' binary HTTP mode (what the executor sends).
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST a CloudEvent", http.StatusMethodNotAllowed)
		return
	}
	h := r.Header
	id, ceType := h.Get("Ce-Id"), h.Get("Ce-Type")
	if id == "" || ceType == "" {
		s.rejected.Add(1)
		http.Error(w, "not a binary-mode CloudEvent: Ce-Id and Ce-Type are required", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.maxBody))
	if err != nil {
		s.rejected.Add(1)
		http.Error(w, "reading the event: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	rec := record{
		ID: id, ReqType: ceType, Puid: h.Get("Ce-Requestid"), ContentType: h.Get("Content-Type"),
		SourceURI: h.Get("Ce-Source"), InferenceService: h.Get("Ce-Inferenceservicename"), Namespace: h.Get("Ce-Namespace"),
		Component: h.Get("Ce-Modelid"), Endpoint: h.Get("Ce-Endpoint"), Protocol: h.Get("Ce-Protocol"),
		OccurrenceTime: h.Get("Ce-Time"), Received: time.Now().UTC().Format(time.RFC3339Nano),
	}
	// KServe's agent names the component in Ce-Component; the executor names the graph node.
	if v := h.Get("Ce-Component"); v != "" && rec.Component == "" {
		rec.Component = v
	}
	if rec.Namespace == "" {
		rec.Namespace = s.cfg.defaultNamespace
	}
	if rec.InferenceService == "" {
		rec.InferenceService = s.cfg.defaultDeployment
	}
	if rec.Endpoint == "" {
		rec.Endpoint = s.cfg.defPred
	}
	mt, _, _ := mime.ParseMediaType(rec.ContentType)
	if (mt == "application/json" || strings.HasSuffix(mt, "+json")) && json.Valid(body) {
		rec.Payload = body
	} else if len(body) > 0 {
		rec.Bytes = base64.StdEncoding.EncodeToString(body)
	}
	line, err := json.Marshal(&rec)
	if err == nil {
		err = s.sp.Append(line)
	}
	if err != nil {
		s.failed.Add(1)
		logf("event %s not spooled: %v", id, err)
		http.Error(w, "not spooled: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.spooled[typeLabel(ceType)].Add(1)
	w.WriteHeader(http.StatusAccepted)
}

func (s *server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p := func(help, typ, name string, v int64, labels string) {
		if help != "" {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		}
		fmt.Fprintf(w, "%s%s %d\n", name, labels, v)
	}
	for i, t := range eventTypes {
		help := ""
		if i == 0 {
			help = "Events written to the spool and fsync'd (acknowledged), by CloudEvent type."
		}
		p(help, "counter", "rmlops_sink_events_spooled_total", s.spooled[t].Load(), fmt.Sprintf("{type=%q}", t))
	}
	p("Events refused as malformed or too large (4xx).", "counter", "rmlops_sink_events_rejected_total", s.rejected.Load(), "")
	p("Events that could not be spooled (5xx: the sender must consider them lost).", "counter", "rmlops_sink_spool_failures_total", s.failed.Load(), "")
	p("Events in objects written to S3.", "counter", "rmlops_sink_events_uploaded_total", s.up.eventsUploaded.Load(), "")
	p("Objects written to S3.", "counter", "rmlops_sink_objects_uploaded_total", s.up.objectsUploaded.Load(), "")
	p("Failed S3 uploads that were retried.", "counter", "rmlops_sink_upload_retries_total", s.up.retries.Load(), "")
	p("Bytes in the spool folder (open and sealed segments).", "gauge", "rmlops_sink_spool_bytes", s.sp.bytes.Load(), "")
	p("Sealed segments waiting for upload.", "gauge", "rmlops_sink_spool_segments", s.sp.segments.Load(), "")
	fmt.Fprintf(w, "# HELP rmlops_sink_build_info The sink's version.\n# TYPE rmlops_sink_build_info gauge\nrmlops_sink_build_info{version=%q} 1\n", version)
	if s.monitor != nil {
		s.monitor.write(w)
	}
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC | log.Lmicroseconds)
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "--version":
			fmt.Println("rmlops-payload-sink", version)
			return
		case "--help", "-h":
			fmt.Printf("rmlops-payload-sink %s: takes the Seldon executor's payload-logger CloudEvents, spools them, uploads JSONL to S3.\n"+
				"Configured by environment only: SINK_S3_ENDPOINT, SINK_S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required;\n"+
				"the others and the key layout are in docs/payload-logging.md.\n", version)
			return
		}
		fmt.Fprintf(os.Stderr, "unknown argument %q: the sink takes --version or --help, and its settings from the environment\n", os.Args[1])
		os.Exit(2)
	}
	cfg, err := loadConfig()
	if err != nil {
		log.Fatalf("configuration: %v", err)
	}
	client, err := newClient(cfg)
	if err != nil {
		log.Fatalf("configuration: %v", err)
	}
	host, _ := os.Hostname()
	host = strings.NewReplacer("/", "_", ".", "_").Replace(host)
	sp, recovered, err := newSpool(cfg.spoolDir, host, cfg.maxEvents, cfg.maxAge)
	if err != nil {
		log.Fatalf("spool %s: %v", cfg.spoolDir, err)
	}
	if recovered > 0 {
		logf("recovered %d open segment(s) of a previous run; they are uploaded first", recovered)
	}
	up := &uploader{sp: sp, client: client, bucket: cfg.bucket, prefix: cfg.prefix, minBackoff: cfg.minBackoff, maxBackoff: cfg.maxBackoff}
	s := &server{cfg: cfg, sp: sp, up: up, spooled: map[string]*atomic.Int64{}, started: time.Now()}
	for _, t := range eventTypes {
		s.spooled[t] = &atomic.Int64{}
	}
	stopMonitor := make(chan struct{})
	if cfg.monitorKey != "" {
		s.monitor = &monitorFigures{key: cfg.monitorKey, every: cfg.monitorEvery, get: s3Getter(client, cfg.bucket)}
		go s.monitor.run(stopMonitor)
	}

	stopSpool := make(chan struct{})
	stopUpload := make(chan struct{})
	var drainUntil atomic.Value
	drainUntil.Store(time.Now().Add(24 * time.Hour))
	spoolDone := make(chan struct{})
	go func() { sp.run(stopSpool); close(spoolDone) }()
	uploadDone := make(chan struct{})
	go func() {
		up.run(stopUpload, func() time.Time { return drainUntil.Load().(time.Time) })
		close(uploadDone)
	}()

	events := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	el, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Fatalf("SINK_LISTEN %s: %v", cfg.listen, err)
	}
	ml, err := net.Listen("tcp", cfg.metricsListen)
	if err != nil {
		log.Fatalf("SINK_METRICS_LISTEN %s: %v", cfg.metricsListen, err)
	}
	go func() {
		if err := events.Serve(el); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("events listener: %v", err)
		}
	}()
	go func() {
		if err := metricsSrv.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("metrics listener: %v", err)
		}
	}()
	s.ready.Store(true)
	logf("rmlops-payload-sink %s: events on %s, metrics on %s, spool %s, s3 %s bucket %s prefix %q",
		version, el.Addr(), ml.Addr(), cfg.spoolDir, cfg.endpoint, cfg.bucket, cfg.prefix)
	if s.monitor != nil {
		logf("serving the drift monitor's figures from %s, fetched every %s", cfg.monitorKey, cfg.monitorEvery)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	// Graceful stop: refuse new events (in-flight ones finish and are spooled), seal the open
	// segment, and upload what the spool holds until SINK_DRAIN_SECONDS. What is still not
	// uploaded then stays in the spool for the next start in the same pod.
	s.ready.Store(false)
	close(stopMonitor)
	logf("%s: stopping; draining the spool for up to %s", got, cfg.drain)
	drainUntil.Store(time.Now().Add(cfg.drain))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	events.Shutdown(ctx)
	cancel()
	close(stopSpool)
	<-spoolDone
	close(stopUpload)
	<-uploadDone
	left := sp.segments.Load()
	logf("stopped: %d events uploaded in this run, %d segment(s) left in the spool", up.eventsUploaded.Load(), left)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	metricsSrv.Shutdown(ctx)
	cancel()
}
