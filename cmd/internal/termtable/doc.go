// Package termtable prints tables for a terminal: left-aligned columns that
// line up by display cells, not by bytes or runes, so a row holding
// Japanese names (山田 太郎, Ｊｏｈｎ: two cells per character) lines up with
// the ASCII rows around it, which text/tabwriter does not do.
//
// Widths follow Unicode East Asian Width (UAX #11) as golang.org/x/text/width
// reports it: Wide and Fullwidth characters take two cells, combining marks
// and other zero-width characters none, everything else (Ambiguous
// included, as most Western terminals draw it) one. A cell never breaks its
// row: tabs, newlines and other control characters in it print as spaces.
package termtable
