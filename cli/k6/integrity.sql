-- The reference's integrity checks, for runs made with k6 or wrk (dibsctl
-- load runs them itself, and more). Set the coupon id range of the run:
--   mariadb -uroot --socket=.run/mysql/mysqld.sock dibs \
--     -e "SET @first = 1, @last = 100; SOURCE cli/k6/integrity.sql;"
-- Every query must return no rows.

-- 1. Over-issue: more rows than the coupon's total.
SELECT c.id, c.total_quantity, COUNT(uc.id) AS issued
FROM coupons c JOIN user_coupons uc ON uc.coupon_id = c.id
WHERE c.id BETWEEN @first AND @last
GROUP BY c.id, c.total_quantity HAVING COUNT(uc.id) > c.total_quantity;

-- 2. Duplicates: a user holding a coupon twice.
SELECT user_id, coupon_id, COUNT(*) FROM user_coupons
WHERE coupon_id BETWEEN @first AND @last
GROUP BY user_id, coupon_id HAVING COUNT(*) > 1;

-- 3. Stock consistency: remaining = total - rows.
SELECT c.id, c.total_quantity, s.remaining_quantity, COUNT(uc.id) AS issued
FROM coupons c LEFT JOIN coupon_stocks s ON s.coupon_id = c.id
LEFT JOIN user_coupons uc ON uc.coupon_id = c.id
WHERE c.id BETWEEN @first AND @last
GROUP BY c.id, c.total_quantity, s.remaining_quantity
HAVING s.remaining_quantity IS NULL
    OR CAST(s.remaining_quantity AS SIGNED)
       <> CAST(c.total_quantity AS SIGNED) - COUNT(uc.id);

-- 4. "API success = DB rows" needs the answers the clients got: compare
-- k6's count of 201/202 answers with this once the writers drained.
SELECT COUNT(*) AS rows_issued FROM user_coupons
WHERE coupon_id BETWEEN @first AND @last;
