//! The head parser's cases, table-driven: each input's result, and
//! `Partial` or that same result for every prefix of it (`check`); and the
//! error statuses' codes and reasons.
use super::*;

cases! {
    // The page, and what the caller needs for 405 and 404.
    get_root: get_with("") => req(Get, true, true, 0);
    head_root: b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" => req(Head, true, true, 0);
    get_query: b"GET /?a=b&c HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    get_empty_query: b"GET /? HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    get_other_path: b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    get_double_slash: b"GET // HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    get_other_path_query: b"GET /x?/ HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    get_fragment: b"GET /#x HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    absolute_form: b"GET http://a:80/ HTTP/1.1\r\nHost: a:80\r\n\r\n" => req(Get, true, true, 0);
    absolute_form_no_path: b"GET HTTPS://a?x HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    absolute_form_other_path: b"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    absolute_form_no_authority: b"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    other_scheme: b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, false, true, 0);
    asterisk_form: b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" => req(Other, false, true, 0);
    authority_form: b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n" => req(Other, false, true, 0);
    lowercase_get: b"get / HTTP/1.1\r\nHost: a\r\n\r\n" => req(Other, true, true, 0);
    post: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n" => req(Other, true, true, 3);
    token_method: b"M-SEARCH_1.0! /x HTTP/1.1\r\nHost: a\r\n\r\n" => req(Other, false, true, 0);

    // Line endings and whitespace.
    bare_lf: b"GET / HTTP/1.1\nHost: a\n\n" => req(Get, true, true, 0);
    mixed_endings: b"GET / HTTP/1.1\nHost: a\r\nX: y\n\r\n" => req(Get, true, true, 0);
    empty_lines_first: b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n" => req(Get, true, true, 0);
    value_ows: b"GET / HTTP/1.1\r\nHost: \t a \t\r\nX:\tb c\t\r\n\r\n" => req(Get, true, true, 0);
    empty_value: b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \r\n\r\n" => req(Get, true, true, 0);
    obs_text_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \xff\r\n\r\n" => req(Get, true, true, 0);
    odd_name: b"GET / HTTP/1.1\r\nHost: a\r\nX!#$%&'*+-.^_`|~9: 1\r\n\r\n" => req(Get, true, true, 0);

    // Host.
    host_any_case: b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n" => req(Get, true, true, 0);
    host_ipv6: b"GET / HTTP/1.1\r\nHost: [::1]:12345\r\n\r\n" => req(Get, true, true, 0);
    host_empty: b"GET / HTTP/1.1\r\nHost:\r\n\r\n" => req(Get, true, true, 0);
    host_missing: b"GET / HTTP/1.1\r\n\r\n" => E400;
    host_missing_other: b"GET / HTTP/1.1\r\nHosts: a\r\n\r\n" => E400;
    host_repeated: b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n" => E400;
    host_repeated_case: b"GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n" => E400;
    host_missing_10: b"GET / HTTP/1.0\r\n\r\n" => req10(Get, true, false, 0);
    host_repeated_10: b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n" => E400;
    host_space: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => E400;
    host_slash: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => E400;
    host_userinfo: b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n" => E400;

    // Keep-alive.
    keep_alive_11: get_with("") => req(Get, true, true, 0);
    close_11: get_with("Connection: close\r\n") => req(Get, true, false, 0);
    close_11_case: get_with("connection: CLOSE\r\n") => req(Get, true, false, 0);
    close_11_list: get_with("Connection: upgrade ,\t Close , foo\r\n") => req(Get, true, false, 0);
    close_11_second_field: get_with("Connection: a\r\nConnection: close\r\n") => req(Get, true, false, 0);
    closed_is_not_close: get_with("Connection: closed, x-close\r\n") => req(Get, true, true, 0);
    keep_alive_11_explicit: get_with("Connection: keep-alive\r\n") => req(Get, true, true, 0);
    close_10: b"GET / HTTP/1.0\r\n\r\n" => req10(Get, true, false, 0);
    keep_alive_10: b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n" => req10(Get, true, true, 0);
    keep_alive_10_list: b"GET / HTTP/1.0\r\nConnection: te, keep-alive\r\n\r\n" => req10(Get, true, true, 0);
    keep_alive_and_close_10: b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n" => req10(Get, true, false, 0);
    keep_alive_and_close_11: get_with("Connection: keep-alive\r\nConnection: close\r\n") => req(Get, true, false, 0);
    head_10: b"HEAD /x HTTP/1.0\r\nHost: a\r\n\r\n" => req10(Head, false, false, 0);

    // Incomplete heads.
    empty: b"" => PARTIAL;
    only_empty_lines: b"\r\n\n\r\n" => PARTIAL;
    only_cr: b"\r" => PARTIAL;
    half_method: b"GE" => PARTIAL;
    half_version: b"GET / HTTP/1." => PARTIAL;
    request_line_only: b"GET / HTTP/1.1\r\n" => PARTIAL;
    no_final_line: b"GET / HTTP/1.1\r\nHost: a\r\n" => PARTIAL;
    final_cr: b"GET / HTTP/1.1\r\nHost: a\r\n\r" => PARTIAL;
    bad_version_not_yet_seen: b"GET / HTTP/2.0" => PARTIAL;

    // Malformed request lines.
    double_space_after_method: b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    double_space_after_target: b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    leading_space: b" GET / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    trailing_space: b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n" => E400;
    tab_separator: b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    no_version: b"GET /\r\nHost: a\r\n\r\n" => E400;
    no_target: b"GET HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    three_parts_extra: b"GET / x HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    extra_word: b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n" => E400;
    lowercase_version: b"GET / http/1.1\r\nHost: a\r\n\r\n" => E400;
    version_two_digits: b"GET / HTTP/1.10\r\nHost: a\r\n\r\n" => E400;
    version_no_minor: b"GET / HTTP/1\r\nHost: a\r\n\r\n" => E400;
    version_shape: b"GET / HTTP/11\r\nHost: a\r\n\r\n" => E400;
    method_not_token: b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    method_nul: b"G\0T / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    target_control: b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    target_del: b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    target_non_ascii: b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    bare_cr_request_line: b"GET / HTTP/1.1\rHost: a\r\n\r\n" => E400;
    bare_cr_before_request_line: b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    cr_cr_lf: b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n" => E400;
    cr_in_target: b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n" => E400;
    error_before_head_complete: b"GET  / HTTP/1.1\r\n" => E400;
    http_09: b"GET /\r\n\r\n" => E400;

    // Malformed header fields.
    space_before_colon: b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" => E400;
    tab_before_colon: b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n" => E400;
    space_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n" => E400;
    folded: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n" => E400;
    folded_tab: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\tz\r\n\r\n" => E400;
    space_before_first_field: b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => E400;
    no_colon: b"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n" => E400;
    empty_name: b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n" => E400;
    bare_cr_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\rz\r\n\r\n" => E400;
    bare_cr_ends_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\r\n\r\n" => E400;
    bare_cr_final_line: b"GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n" => E400;
    bare_cr_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\r: y\r\n\r\n" => E400;
    nul_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: y\0z\r\n\r\n" => E400;
    nul_in_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\0: z\r\n\r\n" => E400;
    control_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n" => E400;
    del_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n" => E400;
    vertical_tab_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\n\r\n" => E400;
    non_ascii_name: b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: y\r\n\r\n" => E400;
    header_error_before_head_complete: b"GET / HTTP/1.1\r\nHost : a\r\n" => E400;

    // Versions.
    http_20: b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" => E505;
    http_99: b"GET / HTTP/9.9\r\nHost: a\r\n\r\n" => E505;
    http_12: b"GET / HTTP/1.2\r\nHost: a\r\n\r\n" => E505;
    http_09_shape: b"GET / HTTP/0.9\n\n" => E505;
    version_before_head_complete: b"GET / HTTP/2.0\n" => E505;
    version_before_bad_header: b"GET / HTTP/2.0\r\nX : y\r\n\r\n" => E505;
    version_bad_line_end: b"GET / HTTP/2.0\rX" => E400;
    bad_request_line_before_version: b"GET  / HTTP/2.0\r\n\r\n" => E400;

    // Limits.
    target_at_limit: target_of(MAX_TARGET_LEN) => req(Get, false, true, 0);
    target_over_limit: target_of(MAX_TARGET_LEN + 1) => E414;
    target_over_limit_incomplete: &target_of(MAX_TARGET_LEN + 1)[..MAX_TARGET_LEN + 5] => E414;
    target_over_limit_http20: format!("GET /{} HTTP/2.0\r\n\r\n", "a".repeat(9000)).into_bytes() => E414;
    target_over_limit_no_end: format!("GET /{}", "a".repeat(20_000)).into_bytes() => E414;
    method_over_limit: "A".repeat(MAX_REQUEST_LINE_LEN + 1).into_bytes() => E414;
    empty_lines_over_limit: "\r\n".repeat(MAX_REQUEST_LINE_LEN).into_bytes() => E414;
    request_line_at_limit: format!(
        "{} /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(MAX_REQUEST_LINE_LEN - MAX_TARGET_LEN - 10),
        "a".repeat(MAX_TARGET_LEN - 1)
    ).into_bytes() => req(Other, false, true, 0);
    request_line_over_limit: format!(
        "{} /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "M".repeat(MAX_REQUEST_LINE_LEN - MAX_TARGET_LEN - 9),
        "a".repeat(MAX_TARGET_LEN - 1)
    ).into_bytes() => E414;
    section_at_limit: section_of(MAX_HEADER_SECTION_LEN) => req(Get, true, true, 0);
    section_over_limit: section_of(MAX_HEADER_SECTION_LEN + 1) => E431;
    section_over_limit_no_end: format!("{GET}X: {}", "v".repeat(20_000)).into_bytes() => E431;
    section_over_limit_many_lines: format!("{GET}{}", "X: v\r\n".repeat(2000)).into_bytes() => E431;
    section_over_limit_long_name: format!("{GET}X{}", "x".repeat(20_000)).into_bytes() => E431;
    fields_at_limit: fields(MAX_HEADERS) => req(Get, true, true, 0);
    fields_over_limit: fields(MAX_HEADERS + 1) => E431;
    fields_over_limit_incomplete: format!("{GET}{}", "X: v\r\n".repeat(100)) => E431;
    limit_before_framing: format!(
        "{GET}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n{}\r\n",
        "X: v\r\n".repeat(100)
    ) => E431;
    limit_before_bad_field: format!("{GET}{}X : y\r\n\r\n", "X: v\r\n".repeat(99)) => E431;
    bad_field_before_limit: format!("{GET}X : y\r\n{}\r\n", "X: v\r\n".repeat(200)) => E400;

    // Body framing.
    content_length: get_with("Content-Length: 11\r\n") => req(Get, true, true, 11);
    content_length_zero: get_with("Content-Length: 0\r\n") => req(Get, true, true, 0);
    content_length_leading_zeros: get_with("Content-Length: 007\r\n") => req(Get, true, true, 7);
    content_length_ows: get_with("content-length: \t5 \t\r\n") => req(Get, true, true, 5);
    content_length_at_limit: get_with("Content-Length: 1048576\r\n") => req(Get, true, true, MAX_BODY_LEN);
    content_length_over_limit: get_with("Content-Length: 1048577\r\n") => E413;
    content_length_huge: get_with("Content-Length: 999999999999999999999999999999\r\n") => E413;
    content_length_over_limit_10: b"PUT / HTTP/1.0\r\nContent-Length: 2000000\r\n\r\n" => E413;
    content_length_empty: get_with("Content-Length:\r\n") => E400;
    content_length_sign: get_with("Content-Length: +5\r\n") => E400;
    content_length_negative: get_with("Content-Length: -1\r\n") => E400;
    content_length_hex: get_with("Content-Length: 0x10\r\n") => E400;
    content_length_inner_space: get_with("Content-Length: 1 0\r\n") => E400;
    content_length_list: get_with("Content-Length: 5, 5\r\n") => E400;
    content_length_twice_equal: get_with("Content-Length: 5\r\nContent-Length: 5\r\n") => E400;
    content_length_twice_different: get_with("Content-Length: 5\r\ncontent-length: 6\r\n") => E400;
    content_length_and_te: get_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") => E400;
    te_and_content_length_10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" => E400;
    te_chunked: get_with("Transfer-Encoding: chunked\r\n") => E501;
    te_any: get_with("transfer-encoding: gzip, chunked\r\n") => E501;
    te_empty: get_with("Transfer-Encoding:\r\n") => E501;
    te_10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => E400;
    te_other_method: b"BREW /pot HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" => E501;
    too_large_other_method: b"BREW /pot HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999\r\n\r\n" => E413;
    host_before_framing: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" => E400;
}

#[test]
fn statuses() {
    let all = [
        (ErrorStatus::BadRequest, 400, "Bad Request"),
        (ErrorStatus::PayloadTooLarge, 413, "Content Too Large"),
        (ErrorStatus::UriTooLong, 414, "URI Too Long"),
        (ErrorStatus::HeaderFieldsTooLarge, 431, "Request Header Fields Too Large"),
        (ErrorStatus::NotImplemented, 501, "Not Implemented"),
        (ErrorStatus::VersionNotSupported, 505, "HTTP Version Not Supported"),
    ];
    for (status, code, reason) in all {
        assert_eq!(status.code(), code);
        assert_eq!(status.reason(), reason);
    }
}
