package jobs

import (
	"github.com/stele-go/stele/internal/core/covenant"
	"github.com/stele-go/stele/internal/store"
)

// StoredDocument is the form in which every producer of authentic documents
// (the verify handler, the gateway's PUT /v1/covenants) stores one: its plain
// JSON (the JSON.stringify form) and the fields the listing indexes use.
func StoredDocument(doc *covenant.Document) store.Document { return storeDocument(doc) }
