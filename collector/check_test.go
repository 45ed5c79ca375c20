package collector

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestCheckPrintsCanonicalPointsAndErrors(t *testing.T) {
	good := newPageServer(t, readFixture(t, jmxFixture))
	bad := newPageServer(t, []byte("this is { not a page\n"))
	f := &Fetcher{Timeout: 5 * time.Second, BodySizeLimit: 1 << 20}
	res := Check(context.Background(), f, []Target{
		{URL: good.URL + "/metrics", Profile: "kafka-jmx"},
		{URL: bad.URL + "/metrics", Profile: "kafka-jmx"},
		{URL: good.URL + "/metrics", Profile: "nope"},
	})
	if res[0].Error != "" || len(res[0].Points) != 15 {
		t.Errorf("good = %+v (want 15 points: 2 totals, 3 topics, 4 client rates, 4 throttles, 2 idle)", res[0])
	}
	if !strings.Contains(res[1].Error, "parse exposition") || !strings.Contains(res[1].Error, bad.URL) {
		t.Errorf("bad error = %q", res[1].Error)
	}
	if !strings.Contains(res[2].Error, `unknown profile "nope"`) {
		t.Errorf("unknown profile error = %q", res[2].Error)
	}
	var buf bytes.Buffer
	if err := WriteCheckTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"client_bytes", "dir=produce,user=alice,client_id=proj-a", "52428.8", "ERROR"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
