package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPreviewOneEmail(t *testing.T) {
	t.Parallel()
	out, _, err := runCLI(t, "", "preview", "--locale", "de-DE", "--step", "2")
	require.NoError(t, err)
	assert.Contains(t, out, "Subject: Ihr Warenkorb bei Demo Shirts ist gespeichert")
	assert.Contains(t, out, "178,00\u00a0£")

	dir := t.TempDir()
	_, _, err = runCLI(t, "", "preview", "--step", "1", "--out", filepath.Join(dir, "step1.html"))
	require.NoError(t, err)
	html, err := os.ReadFile(filepath.Join(dir, "step1.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), "Return to your basket")

	_, _, err = runCLI(t, "", "preview", "--out", filepath.Join(dir, "step1.eml"))
	require.NoError(t, err)
	eml, err := os.ReadFile(filepath.Join(dir, "step1.eml"))
	require.NoError(t, err)
	assert.Contains(t, string(eml), "List-Unsubscribe-Post: List-Unsubscribe=One-Click")

	_, _, err = runCLI(t, "", "preview", "--storefront", "nope")
	assert.ErrorContains(t, err, `--storefront: unknown storefront "nope"`)
}

func TestPreviewGallery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, _, err := runCLI(t, "", "preview", "--gallery", dir)
	require.NoError(t, err)
	assert.Contains(t, out, "wrote 6 previews")
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	for _, locale := range []string{"de", "en", "fr"} {
		for _, step := range []string{"1", "2"} {
			rel := "demo/" + locale + "/step" + step
			assert.Contains(t, string(index), `<iframe src="`+rel+`.html"`)
			for _, ext := range []string{".html", ".txt", ".eml"} {
				_, err := os.Stat(filepath.Join(dir, rel+ext))
				assert.NoError(t, err, rel+ext)
			}
		}
	}
	assert.True(t, strings.Contains(string(index), "Pouvons-nous vous aider"), "subjects are listed")
}
