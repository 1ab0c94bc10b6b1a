package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/userapi"
)

const deliveriesSynopsis = "deliveries <endpoint> [--limit n] [--all] [-o json|yaml] [-n namespace]"

// runDeliveries is `aias deliveries <endpoint>`: the endpoint's delivery log, newest
// first — every delivery, whether it started a Run, and why not.
func runDeliveries(ctx context.Context, args []string) error {
	var conn connFlags
	fs := newFlags("deliveries", deliveriesSynopsis)
	conn.register(fs)
	limit := fs.Int("limit", 50, "deliveries per page (1-500)")
	all := fs.Bool("all", false, "fetch every page")
	output := fs.String("o", "", "output format: json or yaml (default: a table)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<endpoint>"); err != nil {
		return err
	}
	if err := checkOutput(*output, outputJSON, outputYAML); err != nil {
		return err
	}
	if *limit < 1 || *limit > 500 {
		return usageErrorf("--limit must be between 1 and 500")
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	endpoint := strings.TrimPrefix(pos[0], "webhookendpoint/")
	list := &userapi.DeliveryList{Items: []userapi.Delivery{}}
	cont := ""
	for {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		page, err := c.ListDeliveries(callCtx, ns, endpoint, *limit, cont)
		cancel()
		if err != nil {
			return err
		}
		list.Items = append(list.Items, page.Items...)
		list.Continue = page.Continue
		if !*all || page.Continue == "" {
			break
		}
		cont = page.Continue
	}
	if *output != "" {
		return printDocument(os.Stdout, *output, list)
	}
	if len(list.Items) == 0 {
		fmt.Fprintf(os.Stderr, "No deliveries logged for %s in %s namespace.\n", endpoint, ns)
		return nil
	}
	if err := printDeliveriesTable(os.Stdout, list.Items, time.Now()); err != nil {
		return err
	}
	if list.Continue != "" {
		fmt.Fprintf(os.Stderr, "(more deliveries: add --all, or a larger --limit)\n")
	}
	return nil
}

// printDeliveriesTable prints ID AGE OUTCOME STATUS DELIVERY RUN SIZE COUNT REASON; the ID
// is what aias redeliver takes.
func printDeliveriesTable(out io.Writer, items []userapi.Delivery, now time.Time) error {
	tw := newTable(out)
	row(tw, "ID", "AGE", "OUTCOME", "STATUS", "DELIVERY", "RUN", "SIZE", "COUNT", "REASON")
	for _, d := range items {
		id := d.DeliveryID
		if !d.Verified {
			id = "(unverified)"
		}
		row(tw, d.ID, age(d.ReceivedAt, now), d.Outcome, strconv.Itoa(d.Status), id, d.Run, humanBytes(d.BodySize), strconv.Itoa(d.Count), d.Reason)
	}
	return tw.Flush()
}

// runRedeliver is `aias redeliver <endpoint> <delivery-log id>`: send a stored delivery
// through the endpoint again and print the Run it started ("filtered" when the
// endpoint's filter now refuses it).
func runRedeliver(ctx context.Context, args []string) error {
	var conn connFlags
	fs := newFlags("redeliver", "redeliver <endpoint> <id> [-n namespace]   (ids: aias deliveries <endpoint> -o json)")
	conn.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<endpoint>", "<id>"); err != nil {
		return err
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ref, err := c.Redeliver(callCtx, ns, strings.TrimPrefix(pos[0], "webhookendpoint/"), pos[1])
	if err != nil {
		return err
	}
	if ref.Run == "" {
		fmt.Println(ref.Status)
		return nil
	}
	fmt.Println(ref.Run)
	return nil
}
