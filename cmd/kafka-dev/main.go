// Command kafka-dev runs an in-memory Kafka-protocol cluster (franz-go's
// kfake) on loopback for the demo and local runs: no Kafka broker can be
// installed on the project's machines. It is not a Kafka for production:
// nothing is persisted, everything is lost when it stops.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "listen port (127.0.0.1)")
	partitions := flag.Int("partitions", 6, "partitions of each seeded topic")
	topics := flag.String("topics", "otelcol_biz_spans,otelcol_biz_logs,otelcol_biz_metrics", "comma-separated topics to create")
	flag.Parse()

	c, err := kfake.NewCluster(
		kfake.Ports(*port),
		kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafka-dev:", err)
		os.Exit(1)
	}
	fmt.Printf("kafka-dev: listening on %s (topics %s, %d partitions each)\n", strings.Join(c.ListenAddrs(), ","), *topics, *partitions)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
}
