package collector

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
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

// Only the byte and throttle kinds carry a direction; the others print
// none, whatever their (unused) Dir holds.
func TestPointLabelsNameADirectionOnlyWhereTheKindHasOne(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    PointKey
		want string
	}{
		{"broker bytes, fetch", PointKey{Kind: KindBrokerBytes, Dir: config.Fetch}, "dir=fetch"},
		{"topic bytes, produce", PointKey{Kind: KindTopicBytes, Dir: config.Produce, Name: "orders"}, "dir=produce,name=orders"},
		{"throttle", PointKey{Kind: KindThrottle, Dir: config.Fetch, User: "alice"}, "dir=fetch,user=alice"},
		{"filesystem size", PointKey{Kind: KindFSSize, Name: "/data"}, "name=/data"},
		{"cpu seconds", PointKey{Kind: KindCPUSeconds, Name: "0", Sub: "idle"}, "name=0,sub=idle"},
		{"request handler idle", PointKey{Kind: KindRequestHandlerIdle}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.k.labels(); got != tc.want {
				t.Errorf("labels() = %q, want %q", got, tc.want)
			}
		})
	}
}
