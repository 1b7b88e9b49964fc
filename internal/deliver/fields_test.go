package deliver

import (
	"errors"
	"testing"
)

func TestSelectFields(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"invoice.paid","data":{"amount":4200,"currency":"eur",
		"customer":{"email":"ada@example.com","id":"cus_1"},"lines":[{"sku":"a"}]},"note":"x"}`)
	tests := []struct {
		fields []string
		want   string
	}{
		{[]string{"id", "type"}, `{"id":"evt_1","type":"invoice.paid"}`},
		{[]string{"data.amount", "data.customer.id"}, `{"data":{"amount":4200,"customer":{"id":"cus_1"}}}`},
		{[]string{"data.lines"}, `{"data":{"lines":[{"sku":"a"}]}}`},
		{[]string{"data", "data.amount"}, `{"data":{"amount":4200,"currency":"eur","customer":{"email":"ada@example.com","id":"cus_1"},"lines":[{"sku":"a"}]}}`},
		{[]string{"data.amount", "data"}, `{"data":{"amount":4200,"currency":"eur","customer":{"email":"ada@example.com","id":"cus_1"},"lines":[{"sku":"a"}]}}`},
		{[]string{"missing", "data.nothing", "note.deeper", "data.lines.0"}, `{}`},
	}
	for _, tt := range tests {
		got, err := selectFields(body, tt.fields)
		if err != nil || string(got) != tt.want {
			t.Errorf("selectFields(%v) = %s, %v; want %s", tt.fields, got, err, tt.want)
		}
	}
	for _, bad := range []string{`[1,2]`, `"text"`, `not json`, `null`, ``} {
		if _, err := selectFields([]byte(bad), []string{"id"}); !errors.Is(err, errNotObject) {
			t.Errorf("selectFields(%q) error %v, want errNotObject", bad, err)
		}
	}
}
