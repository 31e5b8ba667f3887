package mentions

import "testing"

func TestNames(t *testing.T) {
	ids := []string{"u-1", "g-1"}
	for _, tc := range []struct {
		payload string
		want    bool
	}{
		{`{"system":"artifi","user_id":"u-1","photo_id":"p1"}`, true},
		{`{"guest_id":"g-1","user_id":"u-9"}`, true},
		{`{"system":"storage","user_id":"u-9","key":"users/g-1/photos/p.jpg"}`, true},
		{`{"nested":{"list":["x","u-1"]}}`, true},
		{`{"user_id":"u-10","key":"users/u-10/a"}`, false},
		{`{"user_id":"xu-1x","note":"u-1 was here"}`, false},
		{`{"slice":1}`, false},
		{`u-1 not json`, false},
		{``, false},
	} {
		if got := Names([]byte(tc.payload), ids); got != tc.want {
			t.Errorf("Names(%s) = %v, want %v", tc.payload, got, tc.want)
		}
	}
	if Names([]byte(`{"user_id":"u-1"}`), nil) {
		t.Error("no ids named")
	}
}
