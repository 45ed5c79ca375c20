package kafkaadmin

import (
	"reflect"
	"testing"
)

func TestByTopic(t *testing.T) {
	tp := func(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }
	lags := []GroupLag{
		{Group: "g", Complete: true, Partitions: []PartitionLag{
			{TopicPartition: tp("t", 0), Lag: 5, Status: StatusOK},
			{TopicPartition: tp("u", 0), Lag: 1, Status: StatusWarn},
			{TopicPartition: tp("t", 1), Lag: 7, Status: StatusStall},
			{TopicPartition: tp("t", 2), Lag: 0, Status: StatusWarn},
		}},
		{Group: "provisional", Complete: false, Partitions: []PartitionLag{{TopicPartition: tp("t", 0), Lag: 9, Status: StatusErr}}},
	}
	want := []TopicLag{{Group: "g", Topic: "t", Lag: 12, Status: StatusStall}, {Group: "g", Topic: "u", Lag: 1, Status: StatusWarn}}
	if got := ByTopic(lags); !reflect.DeepEqual(got, want) {
		t.Fatalf("ByTopic = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		a, b Status
		want bool
	}{{StatusErr, StatusStop, true}, {StatusOK, StatusWarn, false}, {StatusStall, StatusStall, false}} {
		if got := Worse(tc.a, tc.b); got != tc.want {
			t.Errorf("Worse(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
