-- Written by `platform deploy`: one database per context.
CREATE DATABASE products;
CREATE DATABASE inventory;
CREATE DATABASE accounts;
CREATE DATABASE coupons;
CREATE DATABASE orders;
CREATE DATABASE payments;
CREATE DATABASE shipping;
CREATE DATABASE cart;
CREATE DATABASE checkout;
CREATE DATABASE search;
CREATE DATABASE notifications;
