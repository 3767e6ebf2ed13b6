// Shared by the k6 scripts of dibs' load scenarios (cli/scenarios/*.json
// are the same scenarios for `dibsctl load`). Environment:
//   DIBS_URL          the node, default http://127.0.0.1:8080
//   DIBS_ADMIN_TOKEN  the admin token (creating coupons)
import http from 'k6/http';
import { check } from 'k6';

export const BASE = __ENV.DIBS_URL || 'http://127.0.0.1:8080';
const JSON_HEADERS = { 'Content-Type': 'application/json' };

// Creates `count` coupons of `totalQuantity` each; returns their ids.
export function createCoupons(prefix, count, totalQuantity, discount) {
  const ids = [];
  for (let i = 1; i <= count; i++) {
    const res = http.post(`${BASE}/api/coupons`, JSON.stringify({
      name: `${prefix}-${totalQuantity}-${i}`, discount, totalQuantity,
    }), { headers: Object.assign({
      Authorization: `Bearer ${__ENV.DIBS_ADMIN_TOKEN}` }, JSON_HEADERS) });
    if (res.status !== 201) {
      throw new Error(`creating a coupon answered ${res.status}: ${res.body}`);
    }
    ids.push(res.json('couponId'));
  }
  return ids;
}

export function randomInt(from, to) {
  return from + Math.floor(Math.random() * (to - from + 1));
}

// POST /api/coupons/{id}/issue; `wait` asks for 201 once in MySQL.
export function issue(couponId, userId, wait) {
  const res = http.post(
    `${BASE}/api/coupons/${couponId}/issue${wait ? '?wait=true' : ''}`,
    JSON.stringify({ userId }),
    { headers: JSON_HEADERS, tags: { name: wait ? 'issue?wait=true' : 'issue' },
      // 409 (sold out, already issued) is an answer, not a failure.
      responseCallback: http.expectedStatuses(201, 202, 409) });
  check(res, {
    'decided (201/202/409)': (r) => [201, 202, 409].includes(r.status),
    'no 5xx': (r) => r.status < 500 || r.status === 503,
  });
  return res;
}

// GET /api/coupons/{id}/issuances/{user}.
export function status(couponId, userId) {
  return http.get(`${BASE}/api/coupons/${couponId}/issuances/${userId}`,
                  { tags: { name: 'status' },
                    responseCallback: http.expectedStatuses(200, 404) });
}
