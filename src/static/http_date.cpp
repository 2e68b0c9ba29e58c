#include "static/http_date.hpp"

#include "core/text.hpp"

#include <cstdint>

namespace askr::static_files {

namespace {

constexpr std::string_view short_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view long_days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr std::int64_t seconds_per_day = 86400;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12), by counting whole
/// 400-year eras of 146097 days from 0000-03-01 (March-based years put Feb 29 last).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
    year -= month <= 2 ? 1 : 0;
    const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(year - era * 400);  // [0, 399]
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

struct Civil {
    std::int64_t year;
    unsigned month, day;
};

/// Inverse of days_from_civil.
Civil civil_from_days(std::int64_t days) {
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto day_of_era = static_cast<unsigned>(days - era * 146097);  // [0, 146096]
    const unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const unsigned day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const unsigned shifted_month = (5 * day_of_year + 2) / 153;  // 0 = March
    const unsigned day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    const unsigned month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
    const std::int64_t year =
        static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
    return {year, month, day};
}

bool is_leap(std::int64_t year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

unsigned days_in_month(std::int64_t year, unsigned month) {
    static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

void write_digits(char* out, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

/// A cursor over the date text; each accessor consumes on success.
class Reader {
  public:
    explicit Reader(std::string_view text) : text_(text) {}

    bool done() const { return text_.empty(); }

    bool literal(std::string_view expected) {
        if (text_.substr(0, expected.size()) != expected) return false;
        text_.remove_prefix(expected.size());
        return true;
    }

    /// Exactly `width` decimal digits.
    bool digits(int width, unsigned& value) {
        if (text_.size() < static_cast<std::size_t>(width)) return false;
        value = 0;
        for (int i = 0; i < width; ++i) {
            const char c = text_[static_cast<std::size_t>(i)];
            if (c < '0' || c > '9') return false;
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        text_.remove_prefix(static_cast<std::size_t>(width));
        return true;
    }

    /// One of `names`, case-sensitive (RFC 9110 writes them as %s"..."); returns its index.
    template <std::size_t N>
    bool name(const std::string_view (&names)[N], unsigned& index) {
        for (std::size_t i = 0; i < N; ++i) {
            if (literal(names[i])) {
                index = static_cast<unsigned>(i);
                return true;
            }
        }
        return false;
    }

    /// time-of-day = hour ":" minute ":" second
    bool time_of_day(unsigned& hour, unsigned& minute, unsigned& second) {
        return digits(2, hour) && literal(":") && digits(2, minute) && literal(":") &&
               digits(2, second);
    }

  private:
    std::string_view text_;
};

struct Fields {
    std::int64_t year = 0;
    unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

/// IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT; date1 = day SP month SP year
bool parse_imf_fixdate(std::string_view text, Fields& f) {
    Reader in(text);
    unsigned ignored = 0, year = 0;
    if (!(in.name(short_days, ignored) && in.literal(", ") && in.digits(2, f.day) &&
          in.literal(" ") && in.name(months, f.month) && in.literal(" ") && in.digits(4, year) &&
          in.literal(" ") && in.time_of_day(f.hour, f.minute, f.second) && in.literal(" GMT") &&
          in.done())) {
        return false;
    }
    f.year = year;
    ++f.month;
    return true;
}

/// rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT; date2 = day "-" month "-" 2DIGIT
bool parse_rfc850(std::string_view text, Fields& f) {
    Reader in(text);
    unsigned ignored = 0, year = 0;
    if (!(in.name(long_days, ignored) && in.literal(", ") && in.digits(2, f.day) &&
          in.literal("-") && in.name(months, f.month) && in.literal("-") && in.digits(2, year) &&
          in.literal(" ") && in.time_of_day(f.hour, f.minute, f.second) && in.literal(" GMT") &&
          in.done())) {
        return false;
    }
    ++f.month;
    // RFC 9110 §5.6.7: a two-digit year that would be more than 50 years in the future is
    // the most recent past year with the same last two digits.
    const std::int64_t now_year = civil_from_days(std::time(nullptr) / seconds_per_day).year;
    std::int64_t full = now_year - now_year % 100 + year;
    if (full > now_year + 50) full -= 100;
    f.year = full;
    return true;
}

/// asctime-date = day-name SP date3 SP time-of-day SP year; date3 = month SP ( 2DIGIT / ( SP DIGIT
/// ))
bool parse_asctime(std::string_view text, Fields& f) {
    Reader in(text);
    unsigned ignored = 0, year = 0;
    if (!(in.name(short_days, ignored) && in.literal(" ") && in.name(months, f.month) &&
          in.literal(" "))) {
        return false;
    }
    if (!(in.literal(" ") ? in.digits(1, f.day) : in.digits(2, f.day))) return false;
    if (!(in.literal(" ") && in.time_of_day(f.hour, f.minute, f.second) && in.literal(" ") &&
          in.digits(4, year) && in.done())) {
        return false;
    }
    f.year = year;
    ++f.month;
    return true;
}

}  // namespace

void format_http_date(std::time_t t, char out[http_date_length]) {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years four digits can hold.
    constexpr std::int64_t earliest = -62167219200;
    constexpr std::int64_t latest = 253402300799;
    std::int64_t seconds = static_cast<std::int64_t>(t);
    if (seconds < earliest) seconds = earliest;
    if (seconds > latest) seconds = latest;

    std::int64_t days = seconds / seconds_per_day;
    std::int64_t in_day = seconds % seconds_per_day;
    if (in_day < 0) {
        in_day += seconds_per_day;
        --days;
    }
    const Civil date = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4).
    const auto weekday = static_cast<std::size_t>(((days % 7) + 7 + 4) % 7);

    const std::string_view day_name = short_days[weekday];
    const std::string_view month_name = months[date.month - 1];
    out[0] = day_name[0];
    out[1] = day_name[1];
    out[2] = day_name[2];
    out[3] = ',';
    out[4] = ' ';
    write_digits(out + 5, date.day, 2);
    out[7] = ' ';
    out[8] = month_name[0];
    out[9] = month_name[1];
    out[10] = month_name[2];
    out[11] = ' ';
    write_digits(out + 12, static_cast<unsigned>(date.year), 4);
    out[16] = ' ';
    write_digits(out + 17, static_cast<unsigned>(in_day / 3600), 2);
    out[19] = ':';
    write_digits(out + 20, static_cast<unsigned>(in_day / 60 % 60), 2);
    out[22] = ':';
    write_digits(out + 23, static_cast<unsigned>(in_day % 60), 2);
    out[25] = ' ';
    out[26] = 'G';
    out[27] = 'M';
    out[28] = 'T';
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
    text = core::trim_ows(text);

    Fields f;
    if (!parse_imf_fixdate(text, f) && !parse_rfc850(text, f) && !parse_asctime(text, f)) {
        return std::nullopt;
    }
    // second may be 60 (RFC 9110 §5.6.7 allows a leap second); it simply rolls over.
    if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > days_in_month(f.year, f.month) ||
        f.hour > 23 || f.minute > 59 || f.second > 60) {
        return std::nullopt;
    }
    const std::int64_t seconds = days_from_civil(f.year, f.month, f.day) * seconds_per_day +
                                 f.hour * 3600 + f.minute * 60 + f.second;
    return static_cast<std::time_t>(seconds);
}

}  // namespace askr::static_files
