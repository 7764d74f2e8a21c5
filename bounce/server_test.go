package bounce

import (
	netsmtp "net/smtp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/basketassist/basketassist/basket"
	"github.com/basketassist/basketassist/internal/redistest"
	"github.com/basketassist/basketassist/secrets"
	"github.com/basketassist/basketassist/suppression"
)

// A report the listener reads but cannot apply (Redis is down) is answered
// 451, so that the sending system tries again later: a 250 would lose it.
func TestListenerDefersAReportItCannotApply(t *testing.T) {
	t.Parallel()
	keys := secrets.Throwaway()
	rdb := redistest.Client(t)
	a := &Applier{Keys: keys, Sends: basket.NewStore(rdb, keys, basket.StoreOptions{Prefix: "t:"}),
		Suppressions: suppression.NewStore(rdb, "t:", nil), Metrics: NewMetrics(nil)}
	l, err := Listen("127.0.0.1:0", Options{Domains: []string{"bounces.pink.example"}, Applier: a})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	to := ReturnPath(keys, basket.SendKey("pink", "b_1"), 1, "bounces.pink.example")
	report := []byte(strings.ReplaceAll(dsnWithStatus("5.1.1"), "\r\n", "\n"))

	require.NoError(t, netsmtp.SendMail(l.Addr().String(), nil, "", []string{to}, report),
		"a report of a send no longer on record is accepted (and ignored)")
	require.NoError(t, rdb.Close())
	err = netsmtp.SendMail(l.Addr().String(), nil, "", []string{to}, report)
	assert.ErrorContains(t, err, "451")
}
