package secrets

import (
	"bytes"
	"testing"
)

// benchCustomer is the size of a sealed customer: an address, a name, a locale and consent.
var benchCustomer = []byte(`{"email":"ann@example.com","name":"Ann","locale":"en-GB","timezone":"Europe/London","consent":{"basket_assistance":true}}`)

// BenchmarkSeal measures sealing one customer: ingest seals every event's customer.
func BenchmarkSeal(b *testing.B) {
	k := Throwaway()
	if _, err := k.Open(k.Seal(benchCustomer, "customer/pink/b_1"), "customer/pink/b_1"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchCustomer)))
	b.ReportAllocs()
	for b.Loop() {
		if len(k.Seal(benchCustomer, "customer/pink/b_1")) <= len(benchCustomer) {
			b.Fatal("sealed value is no longer than its plaintext")
		}
	}
}

// BenchmarkOpen measures opening one sealed customer: the send path opens one per reminder.
func BenchmarkOpen(b *testing.B) {
	k := Throwaway()
	sealed := k.Seal(benchCustomer, "customer/pink/b_1")
	b.SetBytes(int64(len(benchCustomer)))
	b.ReportAllocs()
	for b.Loop() {
		plain, err := k.Open(sealed, "customer/pink/b_1")
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(plain, benchCustomer) {
			b.Fatal("opened value differs from what was sealed")
		}
	}
}

// BenchmarkRecipientHash measures hashing one address: the send path hashes one per reminder.
func BenchmarkRecipientHash(b *testing.B) {
	k := Throwaway()
	b.ReportAllocs()
	for b.Loop() {
		if k.Recipient("Ann@Example.com ").IsZero() {
			b.Fatal("zero recipient hash")
		}
	}
}

// BenchmarkCheckAddress measures checking one address: every event's customer is checked at ingest.
func BenchmarkCheckAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckAddress("ann.smith+shop@mail.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
