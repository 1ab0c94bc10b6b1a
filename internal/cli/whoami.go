package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aias-dev/aias/internal/apiclient"
)

// apiClient is short for the user API client in this package's signatures.
type apiClient = apiclient.Client

// runWhoAmI is `aias whoami`: who the user API takes the token for; the quickest check
// that --server and the token are right.
func runWhoAmI(ctx context.Context, args []string) error {
	var conn connFlags
	var output string
	fs := newFlags("whoami", "whoami [-o json|yaml]")
	conn.register(fs)
	fs.StringVar(&output, "o", "", "output format: json or yaml")
	fs.StringVar(&output, "output", "", "same as -o")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	if err := checkOutput(output, outputJSON, outputYAML); err != nil {
		return err
	}
	c, _, err := conn.connect()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	me, err := c.WhoAmI(callCtx)
	if err != nil {
		return err
	}
	if output != outputTable {
		return printDocument(os.Stdout, output, me)
	}
	fmt.Printf("User:    %s\nGroups:  %s\n", me.User, strings.Join(me.Groups, ", "))
	return nil
}
