package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// TierIDs is a list of tier ids. It is a named type only so that JSON
// carries it as an array of numbers ([1,2]) rather than as base64, which
// is what encoding/json does with a plain []uint8.
type TierIDs []uint8

// MarshalJSON writes the ids as a JSON array of numbers.
func (t TierIDs) MarshalJSON() ([]byte, error) {
	if t == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i, id := range t {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(id), 10)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads a JSON array of numbers from 0 to 255.
func (t *TierIDs) UnmarshalJSON(b []byte) error {
	var ids []uint16
	if err := json.Unmarshal(b, &ids); err != nil {
		return err
	}
	if ids == nil {
		*t = nil
		return nil
	}
	out := make(TierIDs, len(ids))
	for i, id := range ids {
		if id > 255 {
			return fmt.Errorf("wire: tier id %d out of range", id)
		}
		out[i] = uint8(id)
	}
	*t = out
	return nil
}
