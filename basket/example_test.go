package basket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/basketassist/basketassist/basket"
)

// A storefront written in Go reports basket changes with a Client. Here a
// stand-in server prints what basketassist would receive.
func ExampleClient_Send() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var got struct{ Events []basket.Event }
		_ = json.Unmarshal(body, &got)
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("Authorization"))
		fmt.Println(got.Events[0].Type, got.Events[0].BasketID, got.Events[0].Basket.Total())
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"accepted":1}`))
	}))
	defer srv.Close()

	client := &basket.Client{BaseURL: srv.URL, APIKey: "pink-secret-api-key"}
	n, err := client.Send(context.Background(), basket.Event{
		ID:         "evt_0001",
		Type:       basket.Updated,
		Storefront: "pink",
		BasketID:   "b_42",
		OccurredAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Customer: &basket.Customer{Email: "ann@example.com", Name: "Ann", Locale: "en-GB",
			Consent: basket.Consent{BasketAssistance: true}},
		Basket: &basket.Contents{Currency: "GBP", Items: []basket.Item{
			{SKU: "S-1", Name: "Oxford shirt", Quantity: 2, UnitPrice: 8900},
		}},
	})
	fmt.Println(n, err)
	// Output:
	// POST /v1/events Bearer pink-secret-api-key
	// basket.updated b_42 17800
	// 1 <nil>
}
