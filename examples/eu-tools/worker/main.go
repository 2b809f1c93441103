// Command worker is the eu-tools example's internal service (seed 000): the
// destination of hookgate.yaml's http handlers. Its answers are the
// handlers' replies: the synchronous notifications endpoint answers with
// them, and the sales-prospecting job results are them.
//
//	go run ./examples/eu-tools/worker -listen 127.0.0.1:8090
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on (port 0 picks one)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("worker listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: Worker(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
