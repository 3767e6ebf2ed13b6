// hot-coupon: one coupon of stock 1,000, users from 1..1,000,000, 256 VUs
// without think time for 2 minutes: the sold-out path under maximum
// pressure (cli/scenarios/hot-coupon.json).
//   k6 run -e DIBS_ADMIN_TOKEN=... cli/k6/hot-coupon.js
import { createCoupons, issue, randomInt } from './common.js';

export const options = { vus: 256, duration: '2m' };

export function setup() {
  return { ids: createCoupons('k6-hot', 1, 1000, 1000) };
}

export default function (data) {
  issue(data.ids[0], randomInt(1, 1000000), false);
}
