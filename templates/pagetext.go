package templates

import "golang.org/x/text/language"

// pageText holds the customer pages' words per language. Pages are few and
// short, so a catalog is simpler to translate than a template per language.
var pageText = map[string]map[string]string{
	"en": {
		"unsub_title":        "Stop basket emails?",
		"unsub_body":         "Confirm to stop basket reminder emails from %s to %s.",
		"unsub_button":       "Unsubscribe from basket emails",
		"unsub_done_title":   "You are unsubscribed from basket emails",
		"unsub_done_body":    "%s will not send basket reminder emails to %s any more.",
		"unaffected":         "This only stops basket emails. Newsletters you chose to receive are unaffected.",
		"undo_button":        "Undo: keep sending me basket emails",
		"prefs_link":         "Manage all your email preferences",
		"prefs_title":        "Your email preferences",
		"prefs_intro":        "Choose which emails %s sends to %s.",
		"prefs_basket":       "Basket reminder emails (help with a basket you left)",
		"prefs_newsletter":   "Newsletters",
		"prefs_all":          "Stop all emails from %s",
		"prefs_save":         "Save my choices",
		"prefs_saved":        "Your choices are saved.",
		"prefs_resubscribed": "Basket emails are back on.",
		"prefs_global":       "Emails to this address are stopped for every shop (%s). Contact %s if this is wrong.",
		"bad_link_title":     "This link is not valid",
		"bad_link_body":      "The link may have been cut short by your email program. Try copying the whole link from the email into your browser.",
		"retry_title":        "Please try again",
		"retry_body":         "We could not record your choice just now. Nothing was changed; please try again in a minute.",
		"forbidden_title":    "This form was sent from another site",
		"forbidden_body":     "For your safety, change your preferences from the page linked in the email.",
	},
	"de": {
		"unsub_title":        "Keine Warenkorb-E-Mails mehr?",
		"unsub_body":         "Bestätigen Sie, dass %s keine Warenkorb-Erinnerungen mehr an %s senden soll.",
		"unsub_button":       "Warenkorb-E-Mails abbestellen",
		"unsub_done_title":   "Sie erhalten keine Warenkorb-E-Mails mehr",
		"unsub_done_body":    "%s sendet keine Warenkorb-Erinnerungen mehr an %s.",
		"unaffected":         "Damit enden nur die Warenkorb-E-Mails. Newsletter, die Sie abonniert haben, bleiben unverändert.",
		"undo_button":        "Rückgängig: Warenkorb-E-Mails weiter erhalten",
		"prefs_link":         "Alle E-Mail-Einstellungen verwalten",
		"prefs_title":        "Ihre E-Mail-Einstellungen",
		"prefs_intro":        "Wählen Sie, welche E-Mails %s an %s sendet.",
		"prefs_basket":       "Warenkorb-Erinnerungen (Hilfe zu einem verlassenen Warenkorb)",
		"prefs_newsletter":   "Newsletter",
		"prefs_all":          "Keine E-Mails mehr von %s",
		"prefs_save":         "Auswahl speichern",
		"prefs_saved":        "Ihre Auswahl ist gespeichert.",
		"prefs_resubscribed": "Warenkorb-E-Mails sind wieder eingeschaltet.",
		"prefs_global":       "E-Mails an diese Adresse sind für alle Shops gestoppt (%s). Wenden Sie sich an %s, falls das nicht stimmt.",
		"bad_link_title":     "Dieser Link ist ungültig",
		"bad_link_body":      "Der Link wurde vielleicht von Ihrem E-Mail-Programm gekürzt. Kopieren Sie den ganzen Link aus der E-Mail in Ihren Browser.",
		"retry_title":        "Bitte versuchen Sie es erneut",
		"retry_body":         "Wir konnten Ihre Auswahl gerade nicht speichern. Nichts wurde geändert; bitte versuchen Sie es in einer Minute erneut.",
		"forbidden_title":    "Dieses Formular kam von einer anderen Website",
		"forbidden_body":     "Ändern Sie Ihre Einstellungen zu Ihrer Sicherheit über die Seite, die in der E-Mail verlinkt ist.",
	},
	"fr": {
		"unsub_title":        "Ne plus recevoir les e-mails de panier ?",
		"unsub_body":         "Confirmez pour que %s n’envoie plus de rappels de panier à %s.",
		"unsub_button":       "Me désabonner des e-mails de panier",
		"unsub_done_title":   "Vous êtes désabonné des e-mails de panier",
		"unsub_done_body":    "%s n’enverra plus de rappels de panier à %s.",
		"unaffected":         "Seuls les e-mails de panier s’arrêtent. Les newsletters auxquelles vous êtes inscrit ne changent pas.",
		"undo_button":        "Annuler : continuer à recevoir les e-mails de panier",
		"prefs_link":         "Gérer toutes vos préférences d’e-mail",
		"prefs_title":        "Vos préférences d’e-mail",
		"prefs_intro":        "Choisissez les e-mails que %s envoie à %s.",
		"prefs_basket":       "Rappels de panier (aide pour un panier laissé)",
		"prefs_newsletter":   "Newsletters",
		"prefs_all":          "Ne plus recevoir aucun e-mail de %s",
		"prefs_save":         "Enregistrer mes choix",
		"prefs_saved":        "Vos choix sont enregistrés.",
		"prefs_resubscribed": "Les e-mails de panier sont réactivés.",
		"prefs_global":       "Les e-mails à cette adresse sont arrêtés pour toutes les boutiques (%s). Contactez %s si c’est une erreur.",
		"bad_link_title":     "Ce lien n’est pas valide",
		"bad_link_body":      "Votre messagerie a peut-être coupé le lien. Copiez le lien complet de l’e-mail dans votre navigateur.",
		"retry_title":        "Veuillez réessayer",
		"retry_body":         "Nous n’avons pas pu enregistrer votre choix. Rien n’a été modifié ; réessayez dans une minute.",
		"forbidden_title":    "Ce formulaire vient d’un autre site",
		"forbidden_body":     "Pour votre sécurité, modifiez vos préférences depuis la page indiquée dans l’e-mail.",
	},
}

// PageLanguage picks the page language for a locale: its language if there
// is a catalog for it, else English.
func PageLanguage(locale string) string {
	if tag, err := language.Parse(locale); err == nil {
		base, _ := tag.Base()
		if _, ok := pageText[base.String()]; ok {
			return base.String()
		}
	}
	return "en"
}

// PageText returns the page words for a language from PageLanguage.
func PageText(lang string) map[string]string {
	if t, ok := pageText[lang]; ok {
		return t
	}
	return pageText["en"]
}
