package kafkasend

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookgate/hookgate"
)

// No Kafka server runs here: these tests run against franz-go's in-process
// kfake cluster, which speaks the Kafka protocol over loopback TCP.
const topic = "webhooks"

func cluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func receipt(n, object string) *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-00000000000" + n, ConnectionType: "stripe", Connection: "billing",
		EventType: "invoice.paid", IdempotencyKey: "billing:invoice.paid:evt_" + n,
		Headers: http.Header{"Content-Type": {"application/json"}, "X-Shop": {"eu-1"}},
		Body:    []byte(`{"n":` + n + `,"data":{"object":{"id":"` + object + `"}}}`),
	}
}

func newSender(t *testing.T, c *kfake.Cluster, key string) *Sender {
	t.Helper()
	s, err := New(hookgate.HandlerConfig{Name: "stream", Type: "kafka", Brokers: c.ListenAddrs(), Topic: topic, Key: key},
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// consume reads n records from the topic.
func consume(t *testing.T, c *kfake.Cluster, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d records, want %d", len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	// Anything more would be a duplicate.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(short).Records()...)
	return out
}

// TestProduceKeyedRecord: the body is the value, the key comes from the
// configured field, and hookgate's headers ride along; the reply says where
// the record was committed.
func TestProduceKeyedRecord(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	s := newSender(t, c, "body:data.object.id")
	r := receipt("1", "in_42")
	var replier hookgate.Replier = s
	reply, retry, err := replier.SendReply(context.Background(), r)
	if err != nil || retry {
		t.Fatalf("SendReply: %v (retry %v)", err, retry)
	}
	var where struct {
		Topic     string
		Partition int32
		Offset    int64
	}
	if err := json.Unmarshal(reply.Body, &where); err != nil || where.Topic != topic || reply.ContentType != "application/json" {
		t.Fatalf("reply %q: %v", reply.Body, err)
	}
	recs := consume(t, c, 1)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	rec := recs[0]
	if string(rec.Key) != "in_42" || string(rec.Value) != string(r.Body) || rec.Partition != where.Partition || rec.Offset != where.Offset {
		t.Fatalf("record key %q value %q at %d/%d, reply %+v", rec.Key, rec.Value, rec.Partition, rec.Offset, where)
	}
	headers := map[string]string{}
	for _, h := range rec.Headers {
		headers[h.Key] = string(h.Value)
	}
	for k, want := range map[string]string{
		HeaderReceiptID: r.ID, HeaderIdempotencyKey: r.IdempotencyKey, HeaderEventType: "invoice.paid",
		HeaderConnection: "billing", HeaderContentType: "application/json",
	} {
		if headers[k] != want {
			t.Errorf("header %s = %q, want %q", k, headers[k], want)
		}
	}
}

// TestSameKeySamePartition: records about one object share a partition (so
// they stay in order); the key may come from a header or several fields;
// a missing field leaves the record without a key.
func TestSameKeySamePartition(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	s := newSender(t, c, "body:data.object.id")
	parts := map[int32]bool{}
	for i, obj := range []string{"in_1", "in_1", "in_1", "in_1"} {
		rec := produce(t, s, receipt(string(rune('1'+i)), obj))
		parts[rec.Partition] = true
	}
	if len(parts) != 1 {
		t.Fatalf("one key went to partitions %v", parts)
	}
	for spec, want := range map[string]string{"header:X-Shop": "eu-1", "header:X-Shop+body:data.object.id": "eu-1.in_9", "body:missing": ""} {
		own := cluster(t)
		produce(t, newSender(t, own, spec), receipt("9", "in_9"))
		recs := consume(t, own, 1)
		if got := string(recs[0].Key); len(recs) != 1 || got != want {
			t.Errorf("key %s = %q, want %q", spec, got, want)
		}
	}
}

func produce(t *testing.T, s *Sender, r *hookgate.Receipt) struct{ Partition int32 } {
	t.Helper()
	reply, _, err := s.SendReply(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var where struct{ Partition int32 }
	json.Unmarshal(reply.Body, &where)
	return where
}

// TestIdempotentAcksAll: every produce request asks for acks from all
// in-sync replicas and carries a producer id (the idempotent producer), so
// the client's own retries cannot write a record twice.
func TestIdempotentAcksAll(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	var mu sync.Mutex
	var acks []int16
	var producerIDs []int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		mu.Lock()
		defer mu.Unlock()
		acks = append(acks, pr.Acks)
		for _, tp := range pr.Topics {
			for _, p := range tp.Partitions {
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(p.Records); err == nil {
					producerIDs = append(producerIDs, batch.ProducerID)
				}
			}
		}
		return nil, nil, false
	})
	s := newSender(t, c, "")
	for i := range 3 {
		produce(t, s, receipt(string(rune('1'+i)), "x"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) == 0 || len(producerIDs) == 0 {
		t.Fatalf("no produce request seen")
	}
	for _, a := range acks {
		if a != -1 {
			t.Fatalf("acks = %v, want all -1 (all in-sync replicas)", acks)
		}
	}
	for _, id := range producerIDs {
		if id < 0 {
			t.Fatalf("producer ids %v: a record batch without one is not idempotent", producerIDs)
		}
	}
}

// refuse answers produce requests with code while *down is set.
func refuse(c *kfake.Cluster, down *atomic.Bool, code int16) {
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.ProduceResponseTopic{Topic: tp.Topic, TopicID: tp.TopicID}
			for _, p := range tp.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.ProduceResponseTopicPartition{Partition: p.Partition, ErrorCode: code})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// TestBrokerRefusingThenBack: while the broker refuses writes (not enough
// replicas), deliveries fail at their deadline and are retryable; once it
// takes writes again every receipt is committed once.
func TestBrokerRefusingThenBack(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	var down atomic.Bool
	refuse(c, &down, kerr.NotEnoughReplicas.Code)
	s := newSender(t, c, "body:data.object.id")
	produce(t, s, receipt("1", "a"))
	down.Store(true)
	pending := []*hookgate.Receipt{receipt("2", "a"), receipt("3", "b")}
	for _, r := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		_, retry, err := s.Send(ctx, r)
		cancel()
		if err == nil || !retry {
			t.Fatalf("while refusing: retry %v, err %v", retry, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("a delivery with a 500ms deadline took %v", took)
		}
	}
	down.Store(false)
	// The dispatcher's retries, compressed. The first may still fail: a
	// record joins the batch of one whose deadline passed, and a batch
	// goes by its first record's context.
	deadline := time.Now().Add(20 * time.Second)
	for _, r := range pending {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := s.Send(ctx, r)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receipt %s not committed after the broker came back: %v", r.ID, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	recs := consume(t, c, 3)
	var ids []string
	for _, rec := range recs {
		ids = append(ids, string(rec.Value[5:6]))
	}
	if len(recs) != 3 || !strings.Contains(strings.Join(ids, ""), "1") || !strings.Contains(strings.Join(ids, ""), "2") || !strings.Contains(strings.Join(ids, ""), "3") {
		t.Fatalf("records %v, want 1, 2 and 3 once each", ids)
	}
}

// TestTooLargeIsFinal: a record the broker will never take goes to dead.
func TestTooLargeIsFinal(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	var down atomic.Bool
	down.Store(true)
	refuse(c, &down, kerr.MessageTooLarge.Code)
	_, retry, err := newSender(t, c, "").Send(context.Background(), receipt("1", "a"))
	if err == nil || retry {
		t.Fatalf("retry %v, err %v", retry, err)
	}
}

// TestCloseEndsTheClient: after Close no delivery goes through.
func TestCloseEndsTheClient(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	s := newSender(t, c, "")
	produce(t, s, receipt("1", "a"))
	s.Close()
	if _, retry, err := s.Send(context.Background(), receipt("2", "a")); err == nil || !retry {
		t.Fatalf("after Close: retry %v, err %v", retry, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		brokers    []string
		topic, key string
		want       string
	}{
		{nil, topic, "", "brokers is required"},
		{[]string{"localhost"}, topic, "", "must be host:port"},
		{[]string{"127.0.0.1:9092"}, "", "", "topic is required"},
		{[]string{"127.0.0.1:9092"}, "bad topic", "", "not a valid Kafka topic"},
		{[]string{"127.0.0.1:9092"}, strings.Repeat("t", 250), "", "not a valid Kafka topic"},
		{[]string{"127.0.0.1:9092"}, topic, "data.id", "header:Name or body:path"},
	} {
		_, err := New(hookgate.HandlerConfig{Brokers: tt.brokers, Topic: tt.topic, Key: tt.key})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%v, %q, %q) = %v, want an error containing %q", tt.brokers, tt.topic, tt.key, err, tt.want)
		}
	}
}

// BenchmarkProduce is one committed record on the in-process cluster.
func BenchmarkProduce(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := New(hookgate.HandlerConfig{Brokers: c.ListenAddrs(), Topic: topic, Key: "body:data.object.id"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := receipt("1", "in_1")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
