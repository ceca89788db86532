package token

import "testing"

func TestMetricsHashVector(t *testing.T) {
	const key = "metricskey"
	hashed := MetricsHash(key, "aeaa1725c7a24ff983c6295725d5fc9b")
	if got, want := hashed, "02d6d30647651d781a1e8f2314b6d6f7"; got != want {
		t.Errorf("MetricsHash = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		name     string
		deviceID string
		want     string
	}{
		{"no device", "", "cac3c58399e18585bbf9ee070ee2477d"},
		{"literal none", "none", "cac3c58399e18585bbf9ee070ee2477d"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := HashedDeviceID(key, hashed, tt.deviceID); got != tt.want {
				t.Errorf("HashedDeviceID = %s, want %s", got, tt.want)
			}
		})
	}
	if got := HashedDeviceID(key, hashed, "device"); got == "cac3c58399e18585bbf9ee070ee2477d" || len(got) != 32 {
		t.Errorf("HashedDeviceID with a device id = %s, want a different 32-digit hash", got)
	}
}

func TestFxAKID(t *testing.T) {
	for _, tt := range []struct {
		name        string
		kca         int64
		clientState string
		want        string
	}{
		{"spec vector", 1234, "aaaa", "0000000001234-qqo"},
		{"firefox key id", 1510726317123, "22a42fe289dced5715135913424cb23b", "1510726317123-IqQv4onc7VcVE1kTQkyyOw"},
		{"empty client state", 42, "", "0000000000042-"},
		{"upper-case hex", 1, "AAAA", "0000000000001-qqo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FxAKID(tt.kca, tt.clientState)
			if err != nil {
				t.Fatalf("FxAKID: %v", err)
			}
			if got != tt.want {
				t.Errorf("FxAKID(%d, %q) = %s, want %s", tt.kca, tt.clientState, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"a", "zz", "aa bb"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			if got, err := FxAKID(1, bad); err == nil {
				t.Errorf("FxAKID(1, %q) = %s, want error", bad, got)
			}
		})
	}
}
