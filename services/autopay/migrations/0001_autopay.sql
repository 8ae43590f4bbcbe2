-- placeholder: the autopay service defines its tables here
SELECT 1;
