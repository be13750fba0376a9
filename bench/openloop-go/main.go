// An open-loop load generator for bench/sustained.sh: it sends one webhook every 1/rate
// seconds on schedule, whether or not earlier ones have been answered, and measures each
// latency from the moment the request was due (so a stall counts for every request it
// delays, not once: no coordinated omission). Every request is a new interaction in the
// seed's form. Loopback only; bounded in count (rate x duration) and time (duration plus
// the request timeout). Prints one JSON line.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "webhook URL (loopback)")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	label := flag.String("label", "ol", "prefix of the interaction ids")
	conns := flag.Int("conns", 256, "idle connections kept to the daemon")
	flag.Parse()
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        *conns,
			MaxIdleConnsPerHost: *conns,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	total := int(float64(*rate) * duration.Seconds())
	latencies := make([]float64, total)
	status := make([]int, total)
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			body := fmt.Sprintf(`{"interactionId":"%s-%d","sentiment":{"score":-0.25,"polarity":"negative"},"agentId":"agent-%d","queueId":"queue-1"}`, *label, i, i%400)
			resp, err := client.Post(*url, "application/json", bytes.NewBufferString(body))
			if err != nil {
				status[i] = -1
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status[i] = resp.StatusCode
			}
			latencies[i] = float64(time.Since(due).Microseconds()) / 1000.0
		}(i, due)
	}
	sendTime := time.Since(start).Seconds()
	wg.Wait()
	sorted := append([]float64(nil), latencies...)
	sort.Float64s(sorted)
	q := func(p float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		return sorted[int(p*float64(len(sorted)-1))]
	}
	accepted, shed, other, errors := 0, 0, 0, 0
	for _, s := range status {
		switch {
		case s == 202 || s == 200:
			accepted++
		case s == 503:
			shed++
		case s < 0:
			errors++
		default:
			other++
		}
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rate": *rate, "sent": total, "send_seconds": sendTime,
		"accepted": accepted, "shed_503": shed, "other": other, "errors": errors,
		"p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": q(1.0),
	})
}
