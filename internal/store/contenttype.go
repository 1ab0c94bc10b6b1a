package store

import (
	"fmt"
	"mime"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// ContentTypeError says why a content type cannot be stored; Reason is the API's reason
// word (ContentTypeTooLong, BadContentType).
type ContentTypeError struct{ Reason, Message string }

func (e *ContentTypeError) Error() string { return e.Message }

// CheckContentType is the one rule for every content type AIAS stores (artifacts, large
// Run inputs) and puts in a status: at most MaxContentTypeLength bytes, printable ASCII
// (PostgreSQL's text refuses bytes that are not UTF-8, and a refusal must be the sender's
// 400, never a 503 it retries in vain), and a media type that parses.
func CheckContentType(contentType string) *ContentTypeError {
	if len(contentType) > aiasv1alpha1.MaxContentTypeLength {
		return &ContentTypeError{"ContentTypeTooLong", fmt.Sprintf("the Content-Type header is longer than %d bytes", aiasv1alpha1.MaxContentTypeLength)}
	}
	for i := 0; i < len(contentType); i++ {
		if c := contentType[i]; c < 0x20 || c > 0x7e {
			return &ContentTypeError{"BadContentType", "the Content-Type header must be printable ASCII"}
		}
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil {
		return &ContentTypeError{"BadContentType", "the Content-Type header is not a media type: " + err.Error()}
	}
	return nil
}
