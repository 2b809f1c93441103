// Command hookgate is the gateway binary: see `hookgate --help`.
package main

import (
	"context"
	"os"

	"github.com/hookgate/hookgate/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
