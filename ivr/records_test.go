package ivr

import (
	"fmt"
	"testing"
	"time"
)

// The finished-call history keeps the last N calls, newest first, and live calls are listed
// until they finish.
func TestRecords_KeepsLastNFinishedNewestFirst(t *testing.T) {
	t.Parallel()
	rs := newRecords(3)
	t0 := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	for i := range 5 {
		r := &CallRecord{CallID: fmt.Sprint("c", i), Start: t0.Add(time.Duration(i) * time.Second)}
		rs.publish(r)
		r.Nodes = append(r.Nodes, NodeVisit{Node: "main"}) // the owner goes on appending
		rs.finish(r)
	}
	live, fin := rs.snapshot()
	if len(live) != 0 {
		t.Errorf("%d live calls after all finished", len(live))
	}
	var ids []string
	for _, r := range fin {
		ids = append(ids, r.CallID)
	}
	if fmt.Sprint(ids) != "[c4 c3 c2]" {
		t.Errorf("finished %v, want [c4 c3 c2]", ids)
	}
	if rs.find("c1") != nil || rs.find("c3") == nil {
		t.Error("find: evicted call found or kept call missing")
	}
	if len(rs.find("c4").Nodes) != 1 {
		t.Error("the finished copy lost the owner's last changes")
	}
}
