// The original design's webhook handler, as the baseline of bench/deployed.sh: decode the
// seed's form, normalize (score+1)*50, append one JSON line to a file (no fsync), POST the
// insight to the coaching sink synchronously, answer 200. Standard library only.
//
// Usage: original -listen 127.0.0.1:8090 -audit /tmp/audit.jsonl -sink http://127.0.0.1:9091/coaching
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
)

type incoming struct {
	InteractionID string `json:"interactionId"`
	Sentiment     struct {
		Score    float64 `json:"score"`
		Polarity string  `json:"polarity"`
	} `json:"sentiment"`
}

type insight struct {
	AgentInteraction string  `json:"agent_interaction"`
	QualityScore     float64 `json:"quality_score"`
	Polarity         string  `json:"polarity"`
	ActionRequired   bool    `json:"action_required"`
	Timestamp        string  `json:"timestamp"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	auditPath := flag.String("audit", "audit.jsonl", "audit file (appended, no fsync)")
	sink := flag.String("sink", "http://127.0.0.1:9091/coaching", "coaching platform URL")
	pool := flag.Int("pool", 0, "idle connections kept to the sink (0: Go's default client, as the original handler used: http.Post, 2 idle connections per host)")
	flag.Parse()
	audit, err := os.OpenFile(*auditPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	client := http.DefaultClient
	if *pool > 0 {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *pool}}
	}
	http.HandleFunc("/webhooks/genesys", func(w http.ResponseWriter, r *http.Request) {
		var in incoming
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.InteractionID == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		out := insight{
			AgentInteraction: in.InteractionID,
			QualityScore:     (in.Sentiment.Score + 1) * 50,
			Polarity:         in.Sentiment.Polarity,
			ActionRequired:   in.Sentiment.Score < -0.3,
			Timestamp:        time.Now().UTC().Format(time.RFC3339),
		}
		line, _ := json.Marshal(out)
		mu.Lock()
		_, werr := audit.Write(append(line, '\n'))
		mu.Unlock()
		if werr != nil {
			http.Error(w, "audit write failed", http.StatusInternalServerError)
			return
		}
		resp, err := client.Post(*sink, "application/json", bytes.NewReader(line))
		if err != nil {
			http.Error(w, "coaching push failed", http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"status":"ok"}`))
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
