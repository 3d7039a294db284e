package main

// The uploader: turns each sealed segment into JSONL objects in S3, one per
// (namespace, deployment, predictor, day) the segment holds, then deletes the segment. The object
// key is a function of the segment's name and of that group only, so uploading a segment again
// (the sink was killed after an upload and before the delete) overwrites the same objects instead
// of adding copies. A failed upload is retried with exponential backoff and jitter, forever: the
// spool keeps the events meanwhile.

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

type uploader struct {
	sp     *spool
	client *minio.Client
	bucket string
	prefix string

	minBackoff, maxBackoff time.Duration

	eventsUploaded  atomic.Int64
	objectsUploaded atomic.Int64
	retries         atomic.Int64
	lastError       atomic.Value // string
}

// group of one object: its key and its lines.
type group struct {
	key   string
	lines [][]byte
}

// ObjectKey is the documented layout (docs/payload-logging.md), KServe's S3 logger's
// <prefix>/<namespace>/<inference service>/<component>/ with the day and the batch id after it:
//   <prefix>/<namespace>/<deployment>/<predictor>/<YYYY-MM-DD>/<segment>.jsonl
func ObjectKey(prefix string, r *record, segment string) string {
	day := r.Received
	if len(day) >= 10 {
		day = day[:10]
	}
	parts := []string{}
	if prefix != "" {
		parts = append(parts, prefix)
	}
	parts = append(parts, orUnknown(r.Namespace), orUnknown(r.InferenceService), orUnknown(r.Endpoint), orUnknown(day), segment)
	return path.Join(parts...)
}

func orUnknown(s string) string {
	s = strings.ReplaceAll(s, "/", "_")
	if s == "" || s == "." || s == ".." {
		return "_unknown"
	}
	return s
}

// groups splits a segment into its objects. A partial last line (a write cut short) is skipped:
// it was never acknowledged.
func groups(prefix, segment string, data []byte) []group {
	base := strings.TrimSuffix(segment, segmentExt) + segmentExt
	byKey := map[string]*group{}
	var order []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		data = data[i+1:]
		if len(line) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			logf("segment %s: skipping a line that is not a record: %v", segment, err)
			continue
		}
		key := ObjectKey(prefix, &r, base)
		g, ok := byKey[key]
		if !ok {
			g = &group{key: key}
			byKey[key] = g
			order = append(order, key)
		}
		g.lines = append(g.lines, line)
	}
	sort.Strings(order)
	out := make([]group, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// run uploads sealed segments until stop, then (drain) until the spool is empty or the deadline.
func (u *uploader) run(stop <-chan struct{}, drainDeadline func() time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	draining := false
	for {
		names, err := u.sp.list(sealedPrefix)
		if err != nil {
			logf("listing the spool: %v", err)
		}
		for _, name := range names {
			if !u.uploadSegment(name, stop, draining, drainDeadline) {
				break
			}
		}
		if draining {
			return
		}
		select {
		case <-u.sp.sealed:
		case <-tick.C:
		case <-stop:
			// Wait until the spool has sealed its last segment, then upload what is left once.
			<-u.sp.stopped
			draining = true
		}
	}
}

// uploadSegment returns false when it gave up (shutdown deadline passed).
func (u *uploader) uploadSegment(name string, stop <-chan struct{}, draining bool, deadline func() time.Time) bool {
	p := filepath.Join(u.sp.dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		logf("reading %s: %v", name, err)
		return true
	}
	segment := strings.TrimPrefix(name, sealedPrefix)
	events := 0
	backoff := u.minBackoff
	for _, g := range groups(u.prefix, segment, data) {
		body := append(bytes.Join(g.lines, []byte{'\n'}), '\n')
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if draining {
				ctx, cancel = context.WithDeadline(context.Background(), deadline())
			}
			_, err := u.client.PutObject(ctx, u.bucket, g.key, bytes.NewReader(body), int64(len(body)),
				minio.PutObjectOptions{ContentType: "application/x-ndjson", UserMetadata: map[string]string{"events": itoa(len(g.lines))}})
			cancel()
			if err == nil {
				break
			}
			u.retries.Add(1)
			u.lastError.Store(err.Error())
			logf("upload %s (%d events) failed, retrying in %s: %v", g.key, len(g.lines), backoff, err)
			if draining && time.Now().After(deadline()) {
				logf("shutdown deadline passed: %s stays in the spool for the next start", name)
				return false
			}
			// Jitter of up to a quarter, so that many sinks do not retry in step.
			wait := backoff + time.Duration(rand.Int63n(int64(backoff)/4+1))
			if !draining {
				select {
				case <-time.After(wait):
				case <-stop:
					// Stop backing off: the drain after shutdown tries again at once.
					return false
				}
			} else {
				time.Sleep(min(wait, time.Until(deadline())))
			}
			backoff = min(backoff*2, u.maxBackoff)
		}
		u.objectsUploaded.Add(1)
		events += len(g.lines)
	}
	if err := os.Remove(p); err != nil {
		logf("removing uploaded %s: %v (uploaded again, to the same keys, later)", name, err)
		return true
	}
	syncDir(u.sp.dir)
	u.sp.bytes.Add(-int64(len(data)))
	u.sp.segments.Add(-1)
	u.eventsUploaded.Add(int64(events))
	return true
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
