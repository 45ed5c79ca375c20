package collector

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// largeJMXPage builds a jmx_exporter-style broker page (kafka-2_0_0 rules)
// of about n series, shaped like the fixture pages: per topic eight
// BrokerTopicMetrics meters (of which Headroom maps two), per partition
// log-size gauges, broker totals, quota sensors for a tenth of the topics
// and the two idle ratios.
func largeJMXPage(n int) []byte { return largeJMXPageAt(n, 0) }

// largeJMXPageAt is largeJMXPage after tick seconds of traffic: every
// counter has grown (by a different amount per series) and the gauges moved,
// so that a scraper sees changing values as on a live broker.
func largeJMXPageAt(n int, tick int64) []byte {
	var b bytes.Buffer
	topics := n / 20 // 8 meters + 12 partitions per topic
	meters := []string{"bytesin", "bytesout", "messagesin", "bytesrejected", "totalproducerequests",
		"totalfetchrequests", "failedproducerequests", "failedfetchrequests"}
	for k, m := range meters {
		name := "kafka_server_brokertopicmetrics_" + m + "_total"
		fmt.Fprintf(&b, "# HELP %s Count attribute of BrokerTopicMetrics\n# TYPE %s counter\n", name, name)
		fmt.Fprintf(&b, "%s %d\n", name, int64(1_000_000_000*(k+1))+tick*int64(topics)*1000)
		for i := range topics {
			fmt.Fprintf(&b, "%s{topic=\"project-%d.events\"} %d\n", name, i, int64(1000000*(k+1)+i)+tick*int64(1000+i))
		}
	}
	b.WriteString("# TYPE kafka_server_quota_byte_rate gauge\n")
	for i := range topics / 10 {
		fmt.Fprintf(&b, "kafka_server_quota_byte_rate{clientId=\"c%d\",resource=\"Produce\",user=\"u%d\"} %d.5\n", i, i, int64(1000+i)+tick%7)
	}
	b.WriteString("# TYPE kafka_log_log_size gauge\n")
	for i := range topics * 12 {
		fmt.Fprintf(&b, "kafka_log_log_size{partition=\"%d\",topic=\"project-%d.events\"} %d\n", i%12, i/12, int64(123456789+i)+tick*int64(i%13))
	}
	b.WriteString("kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent 0.8\n")
	b.WriteString("kafka_network_socketserver_networkprocessoravgidlepercent 0.9\n")
	return b.Bytes()
}

// BenchmarkParseAndMap is Headroom's parse and profile mapping of a 5,000
// series page; BenchmarkExpfmtParse is the named peer: the plain expfmt
// parse of the same page. Their ns/op ratio is the cost of mapping.
func BenchmarkParseAndMap(b *testing.B) {
	page := largeJMXPage(5000)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := MapPage(kafkaJMX, Page{Body: page}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5000, "ns/sample")
}

func BenchmarkExpfmtParse(b *testing.B) {
	page := largeJMXPage(5000)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(page)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5000, "ns/sample")
}

func TestLargePageMaps(t *testing.T) {
	page := largeJMXPage(5000)
	pts, samples, dropped, err := MapPage(kafkaJMX, Page{Body: page})
	if err != nil {
		t.Fatal(err)
	}
	// 2 totals + 2×250 topics + 25 quota sensors + 2 idle.
	if samples != 8+8*250+25+250*12+2 || dropped != 0 || len(pts) != 2+500+25+2 {
		t.Errorf("samples=%d dropped=%d points=%d", samples, dropped, len(pts))
	}
}
