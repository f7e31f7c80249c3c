package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A site's own registration function sends userData as a JSON object of
// strings; it is kept with the chat for the agent.
func TestRegisterUserData(t *testing.T) {
	tests := []struct {
		name       string
		userData   string
		wantStatus int
		want       map[string]string
	}{
		{"strings kept", `{"plan":"gold","customer":"c-42"}`, http.StatusSeeOther, map[string]string{"plan": "gold", "customer": "c-42"}},
		{"not JSON", `{"plan":`, http.StatusBadRequest, nil},
		{"not strings", `{"plan":3}`, http.StatusBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			v := en.visitor(en.server())
			v.startChat("/")
			res := v.post("/chat/register", url.Values{
				"return_to": {"/"}, "first_name": {"Ada"}, "email": {"ada@example.com"}, "user_data": {tt.userData},
			})
			res.wantStatus(tt.wantStatus)
			id := v.get("/").widget().AttrOr("data-chat-id", "")
			got := en.chat(id)
			if tt.want == nil {
				if got.Phase != "registration" {
					t.Errorf("after a refused registration the phase is %q, want registration", got.Phase)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got.Visitor.UserData); diff != "" {
				t.Errorf("stored userData (-want +got):\n%s", diff)
			}
		})
	}
}
