-- placeholder: the notifier service defines its tables here
SELECT 1;
