package console

import (
	"encoding/json"
	"testing"
)

// ui/js/items.js decides what a forEach step's DAG node says and which item a click on
// it opens. It uses no DOM, so Node.js runs it as is (the machine has it; without it the
// test is skipped): what it answers for a few steps is checked here.
func TestUIItemsModule(t *testing.T) {
	script := `
import { fannedOut, findUnit, firstItem, itemIndex, itemsLabel, itemsSummary, stepOfName } from './items.mjs';
const item = (index, phase, attempts) => ({ index, name: 'square.' + index, phase, attempts });
const running = { name: 'square', phase: 'Running', itemTotal: 12, itemCounts: { Running: 2, Retrying: 1, Succeeded: 8, Failed: 1 },
  items: [item(0, 'Succeeded', 1), item(1, 'Retrying', 2), item(2, 'Running', 1), item(3, 'Failed', 3)] };
const done = { name: 'cube', phase: 'Failed', itemTotal: 3, itemCounts: { Succeeded: 2, Failed: 1, Evicted: 0 },
  items: [item(0, 'Succeeded', 1), item(1, 'Succeeded', 1)] };
const waiting = { name: 'w', phase: 'Running', itemTotal: 2, itemCounts: { Pending: 2 }, items: [item(0, 'Pending', 0), item(1, 'Pending', 0)] };
const plain = { name: 'list', phase: 'Succeeded', attempts: 2 };
const steps = [plain, running];
const name = (x) => (x ? x.name : null);
console.log(JSON.stringify({
  labels: [itemsLabel(running), itemsLabel(done), itemsLabel(waiting), itemsLabel(plain),
    itemsLabel({ itemTotal: 1, itemCounts: { Succeeded: 1 } })],
  summaries: [itemsSummary(running), itemsSummary(done), itemsSummary({ itemTotal: 1, itemCounts: { Skipped: 1, Zapped: 1 } }), itemsSummary(plain)],
  fanned: [fannedOut(running), fannedOut(plain), fannedOut(undefined), fannedOut({ itemTotal: 0 })],
  first: [name(firstItem(running)), name(firstItem({ items: running.items.slice(0, 3) })), name(firstItem(done)), name(firstItem(waiting)), name(firstItem(plain))],
  units: [name(findUnit(steps, 'list')), name(findUnit(steps, 'square')), name(findUnit(steps, 'square.2')),
    name(findUnit(steps, 'square.9')), name(findUnit(steps, 'nope.1')), name(findUnit(undefined, 'list'))],
  names: [stepOfName('square.12'), stepOfName('list'), itemIndex('square.12'), itemIndex('list')],
}));
`
	out := runUIModule(t, "items", script)
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	want := map[string]string{
		"labels":    `["3/12 running · 1 failed","2/3 succeeded · 1 failed","0/2 succeeded","","1/1 succeeded"]`,
		"summaries": `["12 items: 8 succeeded, 2 running, 1 retrying, 1 failed","3 items: 2 succeeded, 1 failed","1 item: 1 skipped, 1 zapped",""]`,
		"fanned":    `[true,false,false,false]`,
		"first":     `["square.3","square.1","square.0",null,null]`,
		"units":     `["list","square","square.2",null,null,null]`,
		"names":     `["square","list",12,-1]`,
	}
	for k, w := range want {
		b, _ := json.Marshal(got[k])
		if string(b) != w {
			t.Errorf("%s = %s, want %s", k, b, w)
		}
	}
}
