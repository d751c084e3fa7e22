// natsload URL [CONNS [SUBS [MSGS [KEYS]]]]: real load on a nats-server, for
// tests/t0790: CONNS client connections (default 20) with SUBS subscriptions in
// all (default 300, spread over the connections, each on a subject of its
// own), a JetStream memory stream LOAD (subjects load.>) given MSGS messages of
// 256..1279 bytes (default 20000), and a key-value bucket CFG (memory storage)
// given KEYS keys (default 2000). Every subscription then gets one message, and
// the client prints "ready" with what it made and blocks, its connections
// open, until its standard input closes. All of it on the server at URL
// (127.0.0.1); bounded in count, and in time by a deadline of 120 s.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func arg(i int, def int) int {
	if len(os.Args) > i {
		n, err := strconv.Atoi(os.Args[i])
		if err != nil || n < 1 {
			fail("bad argument " + os.Args[i])
		}
		return n
	}
	return def
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "natsload:", msg)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: natsload URL [CONNS [SUBS [MSGS [KEYS]]]]")
	}
	url := os.Args[1]
	conns, subs, msgs, keys := arg(2, 20), arg(3, 300), arg(4, 20000), arg(5, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// Connections and their subscriptions.
	var got atomic.Int64
	var all []*nats.Conn
	for i := 0; i < conns; i++ {
		nc, err := nats.Connect(url, nats.Name("natsload-"+strconv.Itoa(i)), nats.Timeout(10*time.Second))
		if err != nil {
			fail("connect: " + err.Error())
		}
		all = append(all, nc)
	}
	var wg sync.WaitGroup
	wg.Add(subs)
	for k := 0; k < subs; k++ {
		nc := all[k%conns]
		if _, err := nc.Subscribe("sub."+strconv.Itoa(k), func(m *nats.Msg) {
			got.Add(1)
			wg.Done()
		}); err != nil {
			fail("subscribe: " + err.Error())
		}
	}
	for _, nc := range all {
		if err := nc.FlushWithContext(ctx); err != nil {
			fail("flush: " + err.Error())
		}
	}

	// JetStream: a memory stream and a key-value bucket.
	js, err := jetstream.New(all[0])
	if err != nil {
		fail("jetstream: " + err.Error())
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "LOAD", Subjects: []string{"load.>"}, Storage: jetstream.MemoryStorage,
	}); err != nil {
		fail("stream: " + err.Error())
	}
	payload := make([]byte, 1280)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	var bytes int64
	for i := 0; i < msgs; i++ {
		n := 256 + i*7919%1024
		bytes += int64(n)
		if _, err := js.PublishAsync("load."+strconv.Itoa(i%64), payload[:n]); err != nil {
			fail("publish: " + err.Error())
		}
		if i%1000 == 999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				fail("publish: timed out")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		fail("publish: timed out")
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", Storage: jetstream.MemoryStorage})
	if err != nil {
		fail("kv: " + err.Error())
	}
	for i := 0; i < keys; i++ {
		if _, err := kv.Put(ctx, "key."+strconv.Itoa(i), []byte("value-"+strconv.Itoa(i*31))); err != nil {
			fail("kv put: " + err.Error())
		}
	}
	info, err := js.Stream(ctx, "LOAD")
	if err != nil {
		fail("stream info: " + err.Error())
	}
	st := info.CachedInfo().State

	// One message to every subscription.
	for k := 0; k < subs; k++ {
		if err := all[(k+1)%conns].Publish("sub."+strconv.Itoa(k), []byte("hello")); err != nil {
			fail("publish: " + err.Error())
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		fail("subscriptions: timed out")
	}
	fmt.Printf("ready conns=%d subs=%d stream_msgs=%d stream_bytes=%d payload_bytes=%d keys=%d received=%d\n",
		conns, subs, st.Msgs, st.Bytes, bytes, keys, got.Load())
	os.Stdout.Sync()
	// Keep the connections until the test is done with the server.
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, nc := range all {
		nc.Close()
	}
}
